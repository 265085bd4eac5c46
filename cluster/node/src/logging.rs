//! Minimal stderr logging.
//!
//! The node logs plain lines (`<unix ms> <LEVEL> <message>`) to stderr, which
//! docker captures. raft-rs logs through `slog`; [`raft_logger`] adapts those
//! records to the same format so there is one log stream and no extra logging
//! framework. The level is taken from `RAFTKV_LOG` (`debug`, `info`, `warn`).

use std::fmt::Arguments;
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Log levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

fn threshold() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| match std::env::var("RAFTKV_LOG").unwrap_or_default().as_str() {
        "debug" | "trace" => Level::Debug,
        "warn" => Level::Warn,
        "error" => Level::Error,
        _ => Level::Info,
    })
}

/// Whether a record at `level` would be written.
pub fn enabled(level: Level) -> bool {
    level >= threshold()
}

/// Writes one log line (used by the `log_*!` macros).
pub fn write(level: Level, args: Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let tag = match level {
        Level::Debug => "DEBUG",
        Level::Info => "INFO",
        Level::Warn => "WARN",
        Level::Error => "ERROR",
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{ms} {tag} {args}");
}

/// Logs at info level.
#[macro_export]
macro_rules! log_info { ($($t:tt)*) => { $crate::logging::write($crate::logging::Level::Info, format_args!($($t)*)) } }
/// Logs at warn level.
#[macro_export]
macro_rules! log_warn { ($($t:tt)*) => { $crate::logging::write($crate::logging::Level::Warn, format_args!($($t)*)) } }
/// Logs at debug level.
#[macro_export]
macro_rules! log_debug { ($($t:tt)*) => { $crate::logging::write($crate::logging::Level::Debug, format_args!($($t)*)) } }
/// Logs at error level.
#[macro_export]
macro_rules! log_error { ($($t:tt)*) => { $crate::logging::write($crate::logging::Level::Error, format_args!($($t)*)) } }

/// A slog drain that renders records (message plus key/values) onto stderr.
struct StderrDrain;

/// Collects slog key/value pairs as ` k=v`.
struct KvText(String);

impl slog::Serializer for KvText {
    fn emit_arguments(&mut self, key: slog::Key, val: &Arguments<'_>) -> slog::Result {
        use std::fmt::Write as _;
        let _ = write!(self.0, " {key}={val}");
        Ok(())
    }
}

impl slog::Drain for StderrDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &slog::Record<'_>, values: &slog::OwnedKVList) -> Result<(), slog::Never> {
        let level = match record.level() {
            slog::Level::Critical | slog::Level::Error => Level::Error,
            slog::Level::Warning => Level::Warn,
            slog::Level::Info => Level::Info,
            slog::Level::Debug | slog::Level::Trace => Level::Debug,
        };
        if !enabled(level) {
            return Ok(());
        }
        let mut kv = KvText(String::new());
        let _ = slog::KV::serialize(&record.kv(), record, &mut kv);
        let _ = slog::KV::serialize(values, record, &mut kv);
        write(level, format_args!("raft: {}{}", record.msg(), kv.0));
        Ok(())
    }
}

/// The slog logger handed to raft-rs, tagged with this node's id.
pub fn raft_logger(id: u64) -> slog::Logger {
    slog::Logger::root(StderrDrain, slog::o!("node" => id))
}
