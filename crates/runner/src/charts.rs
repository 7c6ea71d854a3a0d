//! Charts for design reviews, drawn with `plotters`: grouped bars with confidence
//! intervals, and line charts with optional confidence bands and shaded time windows.
//! A chart is SVG or PNG by its file extension. Text is laid out (and, in PNGs, drawn)
//! with the DejaVu Sans font the project ships (`assets/fonts`), so no system font or C
//! library is needed.
//!
//! Every chart has a title, labelled axes with units, and a legend. Output is a pure
//! function of the data, so charts are as reproducible as reports.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

/// The font every chart uses, registered once as `sans-serif`.
static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the shipped font is a valid TrueType font"));
    });
}

/// Draws on an SVG or PNG file, by `path`'s extension.
fn render(
    path: &Path,
    size: (u32, u32),
    draw_svg: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
    draw_png: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<(), ChartError> {
    register_font();
    if path.extension().is_some_and(|e| e == "png") {
        let root = BitMapBackend::new(path, size).into_drawing_area();
        draw_png(&root).map_err(|e| error(path, e))?;
        root.present().map_err(|e| error(path, e))
    } else {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw_svg(&root).map_err(|e| error(path, e))?;
        root.present().map_err(|e| error(path, e))
    }
}

/// Colours for series, in order (colour-blind-safe Okabe-Ito palette).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

/// The colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot draw chart: {reason}")]
pub struct ChartError {
    /// The chart file.
    pub path: String,
    /// What went wrong.
    pub reason: String,
}

fn error(path: &Path, reason: impl std::fmt::Display) -> ChartError {
    ChartError {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// One line of a line chart.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The points, in x order.
    pub points: Vec<(f64, f64)>,
    /// A confidence band: (x, low, high), drawn translucent behind the line.
    pub band: Vec<(f64, f64, f64)>,
}

/// A line chart.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    /// Title.
    pub title: String,
    /// X axis label, with unit.
    pub x_label: String,
    /// Y axis label, with unit.
    pub y_label: String,
    /// X range.
    pub x_range: (f64, f64),
    /// Y range.
    pub y_range: (f64, f64),
    /// The lines.
    pub series: Vec<Series>,
    /// Shaded x intervals (e.g. fault windows), with a legend entry for the first.
    pub shaded: Vec<(f64, f64)>,
    /// Legend entry of the shaded intervals.
    pub shaded_label: String,
    /// Draw the x axis on a log scale.
    pub log_x: bool,
    /// Where the legend goes (where the lines are not).
    pub legend: Corner,
}

/// A corner of the plot, for the legend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Corner {
    /// Top right (lines that stay low).
    #[default]
    UpperRight,
    /// Bottom right (rising curves such as CDFs).
    LowerRight,
    /// Bottom left (lines that stay high, such as availability).
    LowerLeft,
}

/// Draws a line chart (SVG or PNG by the extension of `path`).
pub fn line_chart(path: &Path, chart: &LineChart) -> Result<(), ChartError> {
    render(
        path,
        (960, 540),
        |root| draw_line(root, chart),
        |root| draw_line(root, chart),
    )
}

fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &LineChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(fail)?;
    let (x0, x1) = chart.x_range;
    let (y0, y1) = chart.y_range;
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        // Room for the last x tick's label, centred on the plot's right edge.
        .margin_right(32)
        .x_label_area_size(48)
        .y_label_area_size(72);
    macro_rules! draw {
        ($ctx:expr) => {{
            let mut ctx = $ctx;
            ctx.configure_mesh()
                .x_label_formatter(&|x| tick(*x))
                .y_label_formatter(&|y| tick(*y))
                .x_desc(&chart.x_label)
                .y_desc(&chart.y_label)
                .axis_desc_style(("sans-serif", 16))
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(fail)?;
            for (i, &(a, b)) in chart.shaded.iter().enumerate() {
                let area = Rectangle::new(
                    [(a, y0), (b, y1)],
                    RGBColor(200, 200, 200).mix(0.35).filled(),
                );
                let drawn = ctx.draw_series(std::iter::once(area)).map_err(fail)?;
                if i == 0 && !chart.shaded_label.is_empty() {
                    drawn.label(&chart.shaded_label).legend(|(x, y)| {
                        Rectangle::new(
                            [(x, y - 6), (x + 18, y + 6)],
                            RGBColor(200, 200, 200).mix(0.6).filled(),
                        )
                    });
                }
            }
            for (i, series) in chart.series.iter().enumerate() {
                let c = colour(i);
                if !series.band.is_empty() {
                    let mut polygon: Vec<(f64, f64)> =
                        series.band.iter().map(|&(x, lo, _)| (x, lo)).collect();
                    polygon.extend(series.band.iter().rev().map(|&(x, _, hi)| (x, hi)));
                    ctx.draw_series(std::iter::once(Polygon::new(polygon, c.mix(0.18).filled())))
                        .map_err(fail)?;
                }
                ctx.draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    c.stroke_width(2),
                ))
                .map_err(fail)?
                .label(&series.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
            }
            let position = match chart.legend {
                Corner::UpperRight => SeriesLabelPosition::UpperRight,
                Corner::LowerRight => SeriesLabelPosition::LowerRight,
                Corner::LowerLeft => SeriesLabelPosition::LowerLeft,
            };
            ctx.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .label_font(("sans-serif", 14))
                .position(position)
                .draw()
                .map_err(fail)?;
        }};
    }
    if chart.log_x {
        let ctx = builder
            .build_cartesian_2d((x0.max(1e-3)..x1).log_scale(), y0..y1)
            .map_err(fail)?;
        draw!(ctx);
    } else {
        let ctx = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(fail)?;
        draw!(ctx);
    }
    Ok(())
}

/// A tick label: as short as the number allows (`1000`, not `1000.0`; `2.5`).
fn tick(x: f64) -> String {
    let text = format!("{:.3}", x);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A series of bars: its legend entry and, per category, (value, CI low, CI high).
pub type BarSeries = (String, Vec<(f64, f64, f64)>);

/// One group of bars: a category (e.g. an anomaly kind).
#[derive(Clone, Debug)]
pub struct BarChart {
    /// Title.
    pub title: String,
    /// Y axis label, with unit.
    pub y_label: String,
    /// X axis label.
    pub x_label: String,
    /// Categories along the x axis.
    pub categories: Vec<String>,
    /// Per series (legend entry): per category (value, CI low, CI high).
    pub series: Vec<BarSeries>,
    /// Top of the y axis.
    pub y_max: f64,
}

/// Draws grouped bars with confidence-interval whiskers (SVG or PNG by extension).
pub fn bar_chart(path: &Path, chart: &BarChart) -> Result<(), ChartError> {
    render(
        path,
        (1100, 560),
        |root| draw_bars(root, chart),
        |root| draw_bars(root, chart),
    )
}

fn draw_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &BarChart,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let fail = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(fail)?;
    let groups = chart.categories.len().max(1);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(56)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..groups as f64, 0f64..chart.y_max)
        .map_err(fail)?;
    let categories = chart.categories.clone();
    ctx.configure_mesh()
        .disable_x_mesh()
        .x_labels(groups * 2 + 1)
        .x_label_formatter(&|x| {
            // Label only the middle of each group.
            let i = x.floor() as usize;
            let middle = (x - x.floor() - 0.5).abs() < 1e-9;
            if middle {
                categories.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| tick(*y))
        .x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(fail)?;
    let k = chart.series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, (name, values)) in chart.series.iter().enumerate() {
        let c = colour(j);
        let left = |i: usize| i as f64 + 0.1 + j as f64 * width;
        let bars = values.iter().enumerate().map(|(i, &(v, _, _))| {
            Rectangle::new([(left(i), 0.0), (left(i) + width * 0.9, v)], c.filled())
        });
        ctx.draw_series(bars)
            .map_err(fail)?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 18, y + 6)], c.filled()));
        let whiskers = values.iter().enumerate().flat_map(|(i, &(_, lo, hi))| {
            let x = left(i) + width * 0.45;
            let half = width * 0.2;
            [
                PathElement::new(vec![(x, lo), (x, hi)], BLACK.stroke_width(1)),
                PathElement::new(vec![(x - half, lo), (x + half, lo)], BLACK.stroke_width(1)),
                PathElement::new(vec![(x - half, hi), (x + half, hi)], BLACK.stroke_width(1)),
            ]
        });
        ctx.draw_series(whiskers).map_err(fail)?;
    }
    ctx.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(fail)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_print_as_short_as_the_number_allows() {
        let shown: Vec<String> = [1000.0, 100.0, 10.0, 2.5, 0.125, 0.0, -0.0, -1.5]
            .into_iter()
            .map(tick)
            .collect();
        assert_eq!(
            shown,
            ["1000", "100", "10", "2.5", "0.125", "0", "0", "-1.5"]
        );
    }

    #[test]
    fn charts_are_svg_with_titles_axes_and_legends_and_reproducible() {
        let dir = std::env::temp_dir().join(format!("repsim-charts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let line = LineChart {
            title: "Latency".into(),
            x_label: "latency (ms)".into(),
            y_label: "fraction of operations".into(),
            x_range: (0.0, 10.0),
            y_range: (0.0, 1.0),
            series: vec![Series {
                name: "async".into(),
                points: vec![(0.0, 0.0), (5.0, 0.5), (10.0, 1.0)],
                band: vec![(0.0, 0.0, 0.1), (10.0, 0.9, 1.0)],
            }],
            shaded: vec![(2.0, 3.0)],
            shaded_label: "faults".into(),
            log_x: false,
            legend: Corner::LowerRight,
        };
        let a = dir.join("a.svg");
        let b = dir.join("b.svg");
        line_chart(&a, &line).unwrap();
        line_chart(&b, &line).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        for needle in [
            "<svg",
            "Latency",
            "latency (ms)",
            "fraction of operations",
            "async",
            "faults",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        let bars = BarChart {
            title: "Anomaly rates".into(),
            y_label: "seeds affected".into(),
            x_label: "anomaly".into(),
            categories: vec!["stale_read".into(), "lost_write".into()],
            series: vec![("sync".into(), vec![(0.1, 0.05, 0.2), (0.0, 0.0, 0.05)])],
            y_max: 1.0,
        };
        let c = dir.join("c.svg");
        bar_chart(&c, &bars).unwrap();
        let text = std::fs::read_to_string(&c).unwrap();
        for needle in [
            "Anomaly rates",
            "stale_read",
            "lost_write",
            "seeds affected",
            "sync",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        // The same chart as PNG, on request.
        let png = dir.join("c.png");
        bar_chart(&png, &bars).unwrap();
        assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
