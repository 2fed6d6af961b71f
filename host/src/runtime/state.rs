//! The per-call store state: an empty WASI context (no files, env, args or sockets), the
//! filtered `wasi:http` hooks, the memory limiter and the piece's log sink.

use super::bindings::v0_1::host_log as host_log_0_1;
use super::bindings::v0_2::host_log;
use super::outbound::OutboundHooks;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// What one call's `Store` holds. Dropped with the store at the end of the call.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) hooks: OutboundHooks,
    pub(super) memory: MemoryLimiter,
    pub(super) log: LogSink,
}

/// Caps linear memory and remembers when the piece hit the cap.
pub struct MemoryLimiter {
    pub(super) limit: usize,
    pub(super) used: usize,
    pub(super) exceeded: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit is for the whole call, across every memory of the component.
        let total = self.used + desired.saturating_sub(current);
        if total > self.limit {
            self.exceeded = true;
            // Trap rather than fail the grow: a guest allocator would abort anyway, and a
            // trap stops the call at once.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached",
                self.limit
            ));
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Forwards the piece's log lines to `tracing`, capped in count and length.
pub struct LogSink {
    pub(super) piece: String,
    pub(super) lines: usize,
    pub(super) max_lines: usize,
    pub(super) max_line_bytes: usize,
    pub(super) scrub: super::scrub::Scrubber,
}

impl host_log::Host for HostState {
    fn log(&mut self, level: host_log::Level, message: String) {
        let sink = &mut self.log;
        sink.lines += 1;
        if sink.lines > sink.max_lines {
            if sink.lines == sink.max_lines + 1 {
                tracing::warn!(piece = %sink.piece, "piece log limit reached; further lines dropped");
            }
            return;
        }
        // One line per call of the piece's: control and line-breaking characters escaped
        // so it cannot forge host lines or hide text from a terminal.
        let message = escape_controls(&sink.scrub.scrub(&message));
        let message = super::convert::truncate(message, sink.max_line_bytes);
        let piece = &sink.piece;
        match level {
            host_log::Level::Debug => tracing::debug!(target: "piece", piece = %piece, "{message}"),
            host_log::Level::Info => tracing::info!(target: "piece", piece = %piece, "{message}"),
            host_log::Level::Warn => tracing::warn!(target: "piece", piece = %piece, "{message}"),
            host_log::Level::Error => tracing::error!(target: "piece", piece = %piece, "{message}"),
        }
    }
}

/// Contract 0.1.0's log: the same sink.
impl host_log_0_1::Host for HostState {
    fn log(&mut self, level: host_log_0_1::Level, message: String) {
        let level = match level {
            host_log_0_1::Level::Debug => host_log::Level::Debug,
            host_log_0_1::Level::Info => host_log::Level::Info,
            host_log_0_1::Level::Warn => host_log::Level::Warn,
            host_log_0_1::Level::Error => host_log::Level::Error,
        };
        host_log::Host::log(self, level, message);
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// `text` with control characters, Unicode line and paragraph separators and bidi
/// overrides written as escapes (`\n`, `\u{2028}`), so one piece log call stays one
/// plain line in the host's log.
pub(super) fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_lines_cannot_carry_control_or_line_breaking_characters() {
        let raw = "a\nb\rc\0d\u{b}e\u{2028}f\u{202e}g\u{7f}";
        assert_eq!(
            super::escape_controls(raw),
            "a\\nb\\rc\\u{0}d\\u{b}e\\u{2028}f\\u{202e}g\\u{7f}"
        );
        assert_eq!(super::escape_controls("plain é ✓"), "plain é ✓");
    }
}
