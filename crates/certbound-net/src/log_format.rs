//! The log formats of every certbound process (the authorization server, the gateway, both in one
//! process, and tests that run them in-process): one place that makes sure no value a request or
//! a certificate carried can forge a log line, whichever call site logged it and however.
//!
//! - **Text**: [`EscapedFields`] formats every field value *and* the message through
//!   [`certbound_core::error::write_escaped`], the one escaper: CR, LF and tab become `\r`, `\n`,
//!   `\t`; every other C0/C1 control, DEL, bidi or format character (U+202E, U+200B, …), line and
//!   paragraph separator (U+2028/2029), private-use and noncharacter becomes `<U+XXXX>`. So one
//!   event is one line, and no ANSI sequence reaches a terminal. A value that could be read as
//!   more than one field (it is empty or has a space, `"`, `\` or `=`) is written in double
//!   quotes with `"` and `\` escaped, so `client_id=x decision=allow` cannot be forged inside a
//!   value; string values are always quoted, as before. `%` (Display), `?` (Debug) and error
//!   values, span fields and messages all go through the same path.
//! - **JSON**: serde_json escapes `"`, `\` and every C0 control (ESC as `\u001b`, NUL as
//!   `\u0000`); [`JsonEscapingWriter`] additionally writes DEL, the C1 controls, bidi and format
//!   characters and U+2028/2029 as `\uXXXX` escapes (the same set as the text format). They can
//!   only occur inside JSON strings, so the line stays valid JSON, a parser gets the exact value
//!   back, and the raw line is safe on a terminal or in a JavaScript-based viewer.
//!
//! Invalid UTF-8 cannot reach either format as raw bytes: `tracing` values are `str`, `Display`
//! or `Debug`, and request text is decoded (or refused) before it is logged.

use certbound_core::error::{needs_escape, write_escaped};
use std::fmt::{self, Write as _};
use std::io;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// Which log format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per line, event fields at the top level.
    Json,
}

/// A subscriber writing `format` to `writer`, filtered by `filter`; `ansi` colours the level and
/// target (for a terminal). Used by `certbound` for stderr and by tests with a buffer.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_writer(JsonEscapingWriter(writer))
                .finish(),
        ),
        LogFormat::Text => Box::new(
            builder
                .fmt_fields(EscapedFields)
                .with_writer(writer)
                .finish(),
        ),
    }
}

/// The field formatter of the text format (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct EscapedFields;

impl<'a> MakeVisitor<Writer<'a>> for EscapedFields {
    type Visitor = EscapingVisitor<'a>;

    fn make_visitor(&self, target: Writer<'a>) -> Self::Visitor {
        EscapingVisitor {
            writer: target,
            result: Ok(()),
            first: true,
            scratch: String::new(),
        }
    }
}

/// Writes the fields of one event or span, escaped (made by [`EscapedFields`]).
pub struct EscapingVisitor<'a> {
    writer: Writer<'a>,
    result: fmt::Result,
    first: bool,
    /// A `Display`/`Debug` value is rendered here first, then escaped into the writer.
    scratch: String,
}

/// How a value is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// The message: escaped, never quoted.
    Message,
    /// A string value: escaped, always quoted.
    Quoted,
    /// Any other value: escaped, quoted only when it could be read as more than one field.
    AsNeeded,
}

impl EscapingVisitor<'_> {
    fn write(&mut self, field: &Field, value: &str, style: Style) {
        if self.result.is_err() {
            return;
        }
        let name = field.name();
        // Metadata of `log` records, already shown as the event's target and location.
        if name.starts_with("log.") {
            return;
        }
        self.result = self.write_inner(name, value, style);
    }

    fn write_inner(&mut self, name: &str, value: &str, style: Style) -> fmt::Result {
        if !self.first {
            self.writer.write_char(' ')?;
        }
        self.first = false;
        if style == Style::Message && name == "message" {
            return write_escaped(&mut self.writer, value, false);
        }
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')?;
        let quote = style != Style::AsNeeded
            || value.is_empty()
            || value
                .chars()
                .any(|c| c.is_whitespace() || matches!(c, '"' | '\\' | '=') || needs_escape(c));
        if quote {
            self.writer.write_char('"')?;
            write_escaped(&mut self.writer, value, true)?;
            self.writer.write_char('"')
        } else {
            self.writer.write_str(value)
        }
    }

    fn write_rendered(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let style = if field.name() == "message" {
            Style::Message
        } else {
            Style::AsNeeded
        };
        if scratch.write_fmt(value).is_ok() {
            self.write(field, &scratch, style);
        } else {
            self.write(field, "<unformattable>", style);
        }
        self.scratch = scratch;
    }
}

impl Visit for EscapingVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let style = if field.name() == "message" {
            Style::Message
        } else {
            Style::Quoted
        };
        self.write(field, value, style);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        // The error and its causes, each once (as `describe_error` of the command does).
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        self.write_rendered(field, format_args!("{text}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write_rendered(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapingVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapingVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

/// Wraps the writer of the JSON format: every character [`needs_escape`] holds that serde_json
/// wrote raw (DEL, C1 controls, bidi and format characters, U+2028/2029, …) is written as a
/// `\uXXXX` escape (a surrogate pair above U+FFFF). The formatter writes one whole event per
/// `write`, and those characters occur only inside JSON strings, so the result is the same JSON.
#[derive(Clone, Debug)]
pub struct JsonEscapingWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for JsonEscapingWriter<M> {
    type Writer = EscapingWrite<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWrite(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EscapingWrite(self.0.make_writer_for(meta))
    }
}

/// The writer [`JsonEscapingWriter`] makes.
#[derive(Debug)]
pub struct EscapingWrite<W>(W);

impl<W: io::Write> io::Write for EscapingWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(needs_escape_in_json) => {
                self.0.write_all(json_escaped(text).as_bytes())?
            }
            Ok(_) => self.0.write_all(buf)?,
            // Never produced by the formatter (it writes a `String`); no raw bytes either way.
            Err(_) => self.0.write_all(String::from_utf8_lossy(buf).as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Characters serde_json leaves raw that the log must not: the escaper's set, less what JSON
/// already escapes (C0 controls) and the line terminator the formatter ends each event with.
fn needs_escape_in_json(c: char) -> bool {
    u32::from(c) >= 0x7f && needs_escape(c)
}

fn json_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape_in_json(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A `MakeWriter` into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn capture(format: LogFormat, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, EnvFilter::new("trace"), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).expect("the log is UTF-8")
    }

    const FORGED: &str =
        "x\r\n2030-01-01T00:00:00Z  INFO certbound::audit: event=\"token_issued\" decision=allow";

    #[derive(Debug)]
    struct Hostile(&'static str);

    impl fmt::Display for Hostile {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer {0}")]
    struct Outer(&'static str, #[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner\n\u{1b}[2J")]
    struct Inner;

    fn assert_safe(line: &str) {
        assert!(
            !line.chars().any(|c| c.is_control() || needs_escape(c)),
            "raw control or format character in {line:?}"
        );
    }

    #[test]
    fn text_fields_messages_and_spans_are_one_escaped_line() {
        let hostile = Hostile("a\r\nb\u{1b}[31mred\u{0}nul\u{202e}rtl\u{2028}ls\u{85}\u{7f}");
        let out = capture(LogFormat::Text, || {
            let span = tracing::info_span!("request", path = %Hostile(FORGED));
            let _entered = span.enter();
            tracing::warn!(
                target: "certbound::audit",
                event = "client_authentication_failed",
                client_id = %Hostile(FORGED),
                debug = ?hostile.0,
                plain = %hostile,
                text = FORGED,
                error = &Outer("x\r\ny", Inner) as &(dyn std::error::Error + 'static),
                "a message {}",
                hostile
            );
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let line = lines[0];
        assert_safe(line);
        assert!(!line.contains('\r'));
        // The message: escaped, not quoted.
        assert!(
            line.contains(
                "a message a\\r\\nb<U+001B>[31mred<U+0000>nul<U+202E>rtl<U+2028>ls<U+0085><U+007F>"
            ),
            "{line}"
        );
        // A Display value with spaces and `=` is quoted, so it cannot add fields.
        assert!(
            line.contains(r#"client_id="x\r\n2030-01-01T00:00:00Z  INFO certbound::audit: event=\"token_issued\" decision=allow""#),
            "{line}"
        );
        // The span's field is escaped the same way.
        assert!(line.contains("request{path=\"x\\r\\n2030"), "{line}");
        // Debug values: the Debug rendering (already escaped by Rust), quoted.
        assert!(line.contains("debug=\"\\\"a\\\\r\\\\nb"), "{line}");
        assert!(line.contains("plain=\"a\\r\\nb<U+001B>[31m"), "{line}");
        // An error and its cause, escaped.
        assert!(
            line.contains("error=\"outer x\\r\\ny: inner\\n<U+001B>[2J\""),
            "{line}"
        );
        // Plain values stay bare; string values stay quoted.
        assert!(
            line.contains("event=\"client_authentication_failed\""),
            "{line}"
        );
    }

    #[test]
    fn simple_values_are_bare_and_empty_ones_quoted() {
        let out = capture(LogFormat::Text, || {
            tracing::info!(
                n = 42,
                ok = true,
                addr = %"127.0.0.1",
                empty = %"",
                "started"
            )
        });
        assert!(
            out.trim_end()
                .ends_with("started n=42 ok=true addr=127.0.0.1 empty=\"\""),
            "{out}"
        );
    }

    #[test]
    fn json_lines_parse_and_carry_no_raw_control_or_bidi_character() {
        let hostile = "a\r\nb\u{1b}[31m\u{0}\u{202e}\u{2028}\u{2029}\u{85}\u{7f}\u{e0041}é§";
        let out = capture(LogFormat::Json, || {
            let span = tracing::info_span!("request", path = %hostile);
            let _entered = span.enter();
            tracing::warn!(
                target: "certbound::audit",
                client_id = %hostile,
                text = hostile,
                "message {hostile}"
            );
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{out}");
        let line = lines[0];
        assert_safe(line);
        // Printable non-ASCII is kept.
        assert!(line.contains("é§"), "{line}");
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        // A parser gets the exact values back.
        assert_eq!(v["client_id"], hostile);
        assert_eq!(v["text"], hostile);
        assert_eq!(v["message"], format!("message {hostile}"));
        assert_eq!(v["span"]["path"], hostile);
        assert!(line.contains("\\u202e") && line.contains("\\u2028") && line.contains("\\u001b"));
        assert!(line.contains("\\udb40\\udc41"), "{line}");
    }
}
