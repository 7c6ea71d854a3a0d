//! [`ScenarioError`], the one error type of scenario loading, and the rendering of JSON
//! paths (`$.faults[2].until_ms`) in its messages.

use std::fmt::Write as _;

use serde_path_to_error::Segment;

/// Why a scenario file was refused. Every message starts with the file; all but read
/// errors then name where in the file (a JSON path, or a line and column for syntax
/// errors) and the reason, e.g. `x.json: $.protocol.w: w (4) > n (3)`.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file as given.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{file}: line {line} column {column}: {message}{}", near(path.as_deref()))]
    Syntax {
        /// The file as given.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The JSON path being read when the error happened, when known.
        path: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// Valid JSON that is not a valid scenario: an unknown field, a wrong type, or a
    /// broken rule of SPEC §2.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file as given.
        file: String,
        /// Where in the file, as a JSON path such as `$.faults[2].until_ms`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl ScenarioError {
    /// The file as given.
    pub fn file(&self) -> &str {
        match self {
            ScenarioError::Read { file, .. }
            | ScenarioError::Syntax { file, .. }
            | ScenarioError::Invalid { file, .. } => file,
        }
    }

    /// The JSON path of the error, when known.
    pub fn path(&self) -> Option<&str> {
        match self {
            ScenarioError::Read { .. } => None,
            ScenarioError::Syntax { path, .. } => path.as_deref(),
            ScenarioError::Invalid { path, .. } => Some(path),
        }
    }
}

fn near(path: Option<&str>) -> String {
    match path {
        Some(path) if path != ROOT => format!(" (in {path})"),
        _ => String::new(),
    }
}

/// The path of the whole document.
pub(super) const ROOT: &str = "$";

/// A validation failure before the file name is known to it.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Invalid {
    pub(super) path: String,
    pub(super) message: String,
}

impl Invalid {
    /// A failure at `path`.
    pub(super) fn new(path: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The error for `file`.
    pub(super) fn in_file(self, file: &str) -> ScenarioError {
        ScenarioError::Invalid {
            file: file.to_owned(),
            path: self.path,
            message: printable(self.message),
        }
    }
}

/// `message` with its control characters escaped (`\u{1b}`): messages quote text from
/// the file (an unknown field, a node name), which must not reach a terminal raw.
pub(super) fn printable(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Appends the path step for object key `key`: `.key` when it is an identifier,
/// `["key"]` (JSON-escaped) otherwise.
pub(super) fn push_key(path: &mut String, key: &str) {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        path.push('.');
        path.push_str(key);
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_else(|_| format!("{key:?}"));
        let _ = write!(path, "[{quoted}]");
    }
}

/// Appends the steps of a serde path (relative to where its tracking started).
pub(super) fn push_segments(path: &mut String, segments: &serde_path_to_error::Path) {
    for segment in segments {
        match segment {
            Segment::Seq { index } => {
                let _ = write!(path, "[{index}]");
            }
            Segment::Map { key } => push_key(path, key),
            // Enum steps only name a variant we already descended through by key, and
            // unknown steps (a key that could not be read) add nothing useful.
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
}

/// Marks the start and end of a relative path carried inside a serde error message.
///
/// A tagged object (see `tagged`) reads its keys itself and buffers the fields before
/// its tag; errors about those keys and inside those fields are raised where
/// serde_path_to_error cannot see their path, so the path is carried in the message as
/// `MARK path MARK message` and unwrapped by [`split_marked`]. The marker is a NUL, which a JSON string can only hold
/// escaped, so it never comes from user text unescaped at the start of a message.
pub(super) const MARK: char = '\0';

/// Prefixes `message` with the relative path `path` (see [`MARK`]).
pub(super) fn mark(path: &str, message: &str) -> String {
    format!("{MARK}{path}{MARK}{message}")
}

/// Appends every marked relative path at the start of `message` to `path` and returns
/// the rest of the message.
pub(super) fn split_marked<'a>(path: &mut String, mut message: &'a str) -> &'a str {
    while let Some(rest) = message.strip_prefix(MARK) {
        let Some((relative, after)) = rest.split_once(MARK) else {
            break;
        };
        path.push_str(relative);
        message = after;
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_render_as_dots_or_brackets() {
        let mut path = ROOT.to_owned();
        push_key(&mut path, "faults");
        push_key(&mut path, "a b");
        push_key(&mut path, "2x");
        assert_eq!(path, r#"$.faults["a b"]["2x"]"#);
    }

    #[test]
    fn marked_paths_nest() {
        let inner = mark(".ms", "bad");
        let outer = mark(".latency", &inner);
        let mut path = "$.network".to_owned();
        assert_eq!(split_marked(&mut path, &outer), "bad");
        assert_eq!(path, "$.network.latency.ms");
        let mut path = ROOT.to_owned();
        assert_eq!(split_marked(&mut path, "plain"), "plain");
        assert_eq!(path, ROOT);
    }

    #[test]
    fn control_characters_in_messages_are_escaped() {
        let e = Invalid::new("$.clients.reads_from", "unknown reads_from `\u{1b}[31m\0`")
            .in_file("x.json");
        assert_eq!(
            e.to_string(),
            "x.json: $.clients.reads_from: unknown reads_from `\\u{1b}[31m\\0`"
        );
    }

    #[test]
    fn messages_name_file_path_and_reason() {
        let e = Invalid::new("$.protocol.w", "w (4) > n (3)").in_file("x.json");
        assert_eq!(e.to_string(), "x.json: $.protocol.w: w (4) > n (3)");
        assert_eq!(e.path(), Some("$.protocol.w"));
        let e = ScenarioError::Syntax {
            file: "x.json".into(),
            line: 3,
            column: 5,
            path: Some("$.network".into()),
            message: "expected `,` or `}`".into(),
        };
        assert_eq!(
            e.to_string(),
            "x.json: line 3 column 5: expected `,` or `}` (in $.network)"
        );
    }
}
