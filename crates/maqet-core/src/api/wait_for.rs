//! What `wait` waits for: [`WaitCondition`], one enum whose variants are `wait`'s flags
//! (`--serial REGEX`, `--state STATE`, `--event EVENT`, `--agent`, `--tcp PORT`, `--ssh`, and the
//! screen waits `--screen-text`, `--screen-match`, `--screen-still`, `--screen-change`).
//!
//! The enum is the declaration: its variants are the flags the CLI, the JSON face, the docs
//! and Python offer, exactly one of which a call gives (see `maqet_macros::OneOf`); `wait`
//! reports the variant's flag name (`OneOf::flag`) as the result's `condition`. To add a
//! condition, add a variant with its `#[arg(help = ..)]` here (a unit variant is a flag, a
//! one-field variant takes a value of that type; the flag is the variant's name in kebab-case)
//! and its arm in [`Maqet::wait_until`]; nothing else changes.

use std::time::{Duration, Instant};

use maqet_macros::OneOf;
use maqet_state::{VmRecord, VmStatus};
use serde_json::Value;

use super::watch::{read_new_lines, read_new_text};
use crate::{ErrorKind, Maqet, MaqetError};

/// The condition `wait` waits for: exactly one of these flags.
#[derive(Debug, Clone, PartialEq, OneOf)]
pub enum WaitCondition {
    /// A line of the serial console matches this regular expression.
    #[arg(
        help = "Regular expression to find in the serial console output",
        value_name = "REGEX"
    )]
    Serial(String),
    /// The VM reaches this state.
    #[arg(help = "VM state to wait for")]
    State(VmStatus),
    /// QEMU emits this QMP event.
    #[arg(help = "QMP event name to wait for", value_name = "EVENT")]
    Event(String),
    /// The guest agent answers.
    #[arg(help = "Wait until the guest agent answers (needs `guest_agent: true`)")]
    Agent,
    /// A forwarded TCP port (guest or host number) reaches a listening guest service.
    #[arg(
        help = "Wait until this forwarded TCP port (guest or host number) reaches a guest service",
        value_name = "PORT"
    )]
    Tcp(i64),
    /// An SSH login as the first-boot user works.
    #[arg(help = "Wait until an SSH login works (needs first-boot identity; see `maqet ssh`)")]
    Ssh,
    /// The screen's text (OCR) matches this regular expression.
    #[arg(
        help = "Regular expression to find in the screen's text (OCR)",
        value_name = "REGEX"
    )]
    ScreenText(String),
    /// This needle (a PNG, or an openQA `.json` beside its `.png`) shows on the screen.
    #[arg(
        help = "Wait until this needle (PNG, or openQA .json) shows on the screen",
        value_name = "NEEDLE"
    )]
    ScreenMatch(std::path::PathBuf),
    /// The screen stays unchanged this many seconds.
    #[arg(
        help = "Wait until the screen stays unchanged this many seconds",
        value_name = "SECONDS"
    )]
    ScreenStill(f64),
    /// Anything on the screen changes.
    #[arg(help = "Wait until anything on the screen changes")]
    ScreenChange,
}

impl Maqet {
    /// Waits until `condition` holds for `record`, at most `limit` from `started`; returns
    /// what matched.
    pub(crate) fn wait_until(
        &self,
        record: &VmRecord,
        condition: &WaitCondition,
        started: Instant,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        match condition {
            WaitCondition::ScreenText(_)
            | WaitCondition::ScreenMatch(_)
            | WaitCondition::ScreenStill(_)
            | WaitCondition::ScreenChange => {
                let screen =
                    super::screen_wait::ScreenWait::of_condition(condition, None, None, None)?
                        .ok_or_else(|| MaqetError::invalid("not a screen condition"))?;
                let running = self.running_vm(&record.id)?;
                let left = limit.saturating_sub(started.elapsed());
                self.wait_for_screen(&running, &screen, left)
            }
            WaitCondition::Agent => self.wait_for_agent(&record.id, limit),
            WaitCondition::Ssh => self.wait_for_ssh(&record.id, limit),
            WaitCondition::Tcp(port) => self.wait_for_tcp(record, *port, limit),
            WaitCondition::Serial(pattern) => self.wait_for_serial(record, pattern, started, limit),
            WaitCondition::State(wanted) => loop {
                let now = self.observe(self.vm_record(&record.id)?);
                if now.status == *wanted {
                    return Ok(Value::String(now.status.to_string()));
                }
                self.check_wait_deadline(started, limit, &format!("state {wanted}"))?;
            },
            WaitCondition::Event(wanted) => {
                let log = self.vm_paths(record).events_log();
                let (_, mut offset) = read_new_lines(&log, 0)?;
                loop {
                    let (lines, next) = read_new_lines(&log, offset)?;
                    offset = next;
                    for line in lines {
                        if let Ok(ev) = serde_json::from_str::<Value>(&line)
                            && ev.get("event").and_then(Value::as_str) == Some(wanted.as_str())
                        {
                            return Ok(ev);
                        }
                    }
                    self.check_wait_deadline(started, limit, &format!("event {wanted}"))?;
                }
            }
        }
    }

    fn wait_for_serial(
        &self,
        record: &VmRecord,
        pattern: &str,
        started: Instant,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        let re = regex::Regex::new(pattern).map_err(|e| {
            MaqetError::with_source(
                ErrorKind::InvalidInput,
                format!("`{pattern}` is not a valid regular expression"),
                e,
            )
        })?;
        let log = self.vm_paths(record).serial_log();
        let mut offset = 0;
        let mut partial = String::new();
        loop {
            let (chunk, next) = read_new_text(&log, offset)?;
            offset = next;
            partial.push_str(&chunk);
            if let Some(line) = partial.lines().find(|l| re.is_match(l)) {
                return Ok(Value::String(line.trim_end().to_string()));
            }
            if let Some(cut) = partial.rfind('\n') {
                partial.drain(..=cut);
            }
            self.check_wait_deadline(
                started,
                limit,
                &format!("`{pattern}` on the serial console"),
            )?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Args, OneOf};
    use serde_json::json;

    fn take(value: Value) -> Result<WaitCondition, MaqetError> {
        let mut args = Args::new("wait", value)?;
        let condition = WaitCondition::take_from(&mut args)?;
        args.ensure_consumed()?;
        Ok(condition)
    }

    #[test]
    fn exactly_one_condition_is_taken_with_its_type() {
        assert_eq!(
            take(json!({"state": "stopped"})).unwrap(),
            WaitCondition::State(VmStatus::Stopped)
        );
        assert_eq!(take(json!({"tcp": "22"})).unwrap(), WaitCondition::Tcp(22));
        assert_eq!(take(json!({"agent": true})).unwrap(), WaitCondition::Agent);
        for bad in [
            json!({}),
            json!({"agent": true, "ssh": true}),
            json!({"agent": false}),
        ] {
            let err = take(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                "give exactly one of --serial, --state, --event, --agent, --tcp, --ssh, \
                 --screen-text, --screen-match, --screen-still or --screen-change"
            );
            assert_eq!(err.exit_code(), 3);
        }
        assert_eq!(take(json!({"state": "asleep"})).unwrap_err().exit_code(), 3);
    }

    #[test]
    fn every_variant_is_a_flag_of_the_group() {
        let longs: Vec<&str> = WaitCondition::PARAMS.iter().map(|p| p.long).collect();
        assert_eq!(
            longs,
            [
                "serial",
                "state",
                "event",
                "agent",
                "tcp",
                "ssh",
                "screen-text",
                "screen-match",
                "screen-still",
                "screen-change"
            ]
        );
        assert_eq!(WaitCondition::Tcp(22).flag(), "tcp");
        assert_eq!(WaitCondition::Ssh.flag(), "ssh");
        assert!(
            WaitCondition::PARAMS
                .iter()
                .all(|p| p.one_of == Some("wait-condition") && !p.required)
        );
        let state = &WaitCondition::PARAMS[1];
        assert!(state.possible_values.contains(&"crashed"));
    }
}
