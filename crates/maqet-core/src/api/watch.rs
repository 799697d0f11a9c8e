//! Watching a VM: its QMP events and waiting for a condition (a console line, a state, an event).

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::time::{Duration, Instant};

use maqet_macros::{api_method, api_requests};
use serde::Serialize;
use serde_json::Value;

use super::wait_for::WaitCondition;
use crate::registry::CommandOutput;
use crate::{Maqet, MaqetError};

/// QMP events as JSON lines.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct EventLines(pub Vec<Value>);

impl CommandOutput for EventLines {
    fn human(&self) -> Option<String> {
        Some(
            self.0
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

/// `wait`: what was seen.
#[derive(Debug, Clone, Serialize)]
pub struct WaitResult {
    /// `serial`, `state`, `event`, `agent`, `tcp`, `ssh` or `screen`.
    pub condition: String,
    /// The matching serial line, state or event.
    pub matched: Value,
    /// How long the wait took, in milliseconds.
    pub elapsed_ms: u64,
}

impl CommandOutput for WaitResult {
    fn human(&self) -> Option<String> {
        if let Some(line) = super::screen_wait::human_line(&self.condition, &self.matched) {
            return Some(line);
        }
        Some(match &self.matched {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

fn timeout_error(what: &str, after: Duration) -> MaqetError {
    MaqetError::WaitTimedOut {
        what: what.to_string(),
        after,
        source: None,
    }
}

#[api_requests]
impl Maqet {
    /// Print a VM's QMP events as JSON lines (recorded ones, then live ones with `--follow`).
    #[api_method(
        category = "watch",
        examples = ["maqet events web", "maqet events web --follow --until SHUTDOWN --timeout 60"]
    )]
    pub fn events(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(help = "Keep printing new events as they happen")] follow: bool,
        #[arg(
            help = "Stop after this event (implies --follow)",
            value_name = "EVENT"
        )]
        until: Option<String>,
        #[arg(help = "Give up after this many seconds (exit 2)")] timeout: Option<Duration>,
    ) -> Result<EventLines, MaqetError> {
        let record = self.vm_record(&vm)?;
        let log = self.vm_paths(&record).events_log();
        let follow = follow || until.is_some();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut collected = Vec::new();
        let mut offset = 0u64;
        loop {
            let (lines, next) = read_new_lines(&log, offset)?;
            offset = next;
            for line in lines {
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let done = until
                    .as_deref()
                    .is_some_and(|u| event.get("event").and_then(Value::as_str) == Some(u));
                if !self.emit_line(&event.to_string()) {
                    collected.push(event);
                }
                if done {
                    return Ok(EventLines(collected));
                }
            }
            if !follow {
                return Ok(EventLines(collected));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timeout_error("events", timeout.unwrap_or_default()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until a VM prints a line on its serial console, reaches a state, or emits a QMP event.
    ///
    /// Exactly one of `--serial`, `--state`, `--event`, `--agent` (the guest agent answers),
    /// `--tcp PORT` (a forwarded port reaches a listening guest service) or `--ssh` (an SSH
    /// login as the first-boot user works), or one screen condition: `--screen-text REGEX` (OCR),
    /// `--screen-match NEEDLE`, `--screen-still SECONDS`, `--screen-change`. Exits with status 2
    /// on timeout; a screen wait then keeps its last picture and names it in the error.
    #[api_method(
        category = "watch",
        examples = [
            "maqet wait web --serial 'login:' --timeout 120",
            "maqet wait web --state stopped",
            "maqet wait web --event SHUTDOWN",
            "maqet wait web --agent --timeout 120",
            "maqet wait web --tcp 22",
            "maqet wait web --ssh --timeout 400",
            "maqet wait web --screen-text 'login:' --timeout 120",
            "maqet wait web --screen-match needles/menu.json --threshold 0.9",
            "maqet wait web --screen-still 2 --region 0,0,640,480"
        ]
    )]
    pub fn wait(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(one_of, help = "What to wait for")] until: WaitCondition,
        #[arg(help = "Give up after this many seconds (exit 2)", default = "60")] timeout: Duration,
        #[arg(
            help = "Screen waits look only at X,Y,W,H (pixels)",
            value_name = "X,Y,W,H"
        )]
        region: Option<String>,
        #[arg(
            help = "Screen waits: needle score, or share of equal pixels that is still no change (0-1)"
        )]
        threshold: Option<f64>,
        #[arg(
            help = "Screen waits keep a numbered picture of each change in DIR",
            value_name = "DIR"
        )]
        record: Option<std::path::PathBuf>,
    ) -> Result<WaitResult, MaqetError> {
        let screen = super::screen_wait::ScreenWait::of_condition(
            &until,
            region.as_deref(),
            threshold,
            record.as_deref(),
        )?;
        let vm_record = self.vm_record(&vm)?;
        let started = Instant::now();
        let matched = match &screen {
            Some(screen) => {
                let running = self.running_vm(&vm_record.id)?;
                self.wait_for_screen(&running, screen, timeout)?
            }
            None => self.wait_until(&vm_record, &until, started, timeout)?,
        };
        Ok(WaitResult {
            condition: crate::registry::OneOf::flag(&until).to_string(),
            matched,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    pub(super) fn check_wait_deadline(
        &self,
        started: Instant,
        limit: Duration,
        what: &str,
    ) -> Result<(), MaqetError> {
        if started.elapsed() >= limit {
            return Err(timeout_error(what, limit));
        }
        self.progress(&format!("waiting for {what}"));
        std::thread::sleep(Duration::from_millis(50));
        Ok(())
    }
}

/// Reads text appended to a file since `offset`; a missing file reads as empty.
pub(super) fn read_new_text(
    path: &std::path::Path,
    offset: u64,
) -> Result<(String, u64), MaqetError> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((String::new(), offset)),
        Err(e) => return Err(MaqetError::io(format!("cannot read {}", path.display()), e)),
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    file.seek(SeekFrom::Start(start))
        .map_err(|e| MaqetError::io(format!("cannot read {}", path.display()), e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| MaqetError::io(format!("cannot read {}", path.display()), e))?;
    Ok((
        String::from_utf8_lossy(&bytes).into_owned(),
        start + bytes.len() as u64,
    ))
}

/// Reads complete lines appended since `offset`.
pub(super) fn read_new_lines(
    path: &std::path::Path,
    offset: u64,
) -> Result<(Vec<String>, u64), MaqetError> {
    let (text, end) = read_new_text(path, offset)?;
    let complete = text.rfind('\n').map_or(0, |i| i + 1);
    let lines = text.as_bytes()[..complete]
        .lines()
        .map_while(Result::ok)
        .collect();
    Ok((lines, end - (text.len() - complete) as u64))
}
