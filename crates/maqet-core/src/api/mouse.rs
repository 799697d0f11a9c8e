//! `qmp mouse-move`, `qmp mouse-click`, `qmp mouse-scroll`: the pointer in screen pixels,
//! through QMP `input-send-event` with absolute axes.
//!
//! Absolute positions need a pointer device that takes them: add `pointer: tablet` to the VM's
//! config (a USB tablet). QEMU scales both axes to 0..=0x7fff; maqet converts screen pixels
//! with the screen's current size.
//!
//! A click is sent as separate batches (move, press, release): QEMU's USB HID device reports
//! the button state at the end of each `input-send-event`, so a press and release in one batch
//! would reach the guest as no click at all.

use maqet_macros::{api_method, api_requests};
use maqet_qmp::keys;
use maqet_state::VmRecord;
use serde_json::{Value, json};

use super::qmp::QmpReply;
use crate::{ErrorKind, Maqet, MaqetError};

/// QEMU's largest absolute axis value (`INPUT_EVENT_ABS_MAX`).
const ABS_MAX: u64 = 0x7fff;

/// A pixel position as QEMU's absolute axis value, for a screen `size` pixels wide (or high).
fn abs_value(pixel: u32, size: u32) -> u64 {
    let last = u64::from(size.max(2) - 1);
    u64::from(pixel).min(last) * ABS_MAX / last
}

fn move_events(x: u32, y: u32, width: u32, height: u32) -> Vec<Value> {
    vec![
        json!({"type": "abs", "data": {"axis": "x", "value": abs_value(x, width)}}),
        json!({"type": "abs", "data": {"axis": "y", "value": abs_value(y, height)}}),
    ]
}

fn button_event(button: &str, down: bool) -> Value {
    json!({"type": "btn", "data": {"down": down, "button": button}})
}

fn key_event(key: &str, down: bool) -> Value {
    json!({"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": key}}})
}

/// Parses `--hold "ctrl shift"` (spaces or commas) into checked key names.
fn held_keys(hold: Option<&str>) -> Result<Vec<String>, MaqetError> {
    let names: Vec<String> = hold
        .unwrap_or_default()
        .split([' ', ','])
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    if refs.is_empty() {
        return Ok(names);
    }
    keys::validate_keys(&refs).map_err(|e| {
        MaqetError::with_source(ErrorKind::InvalidInput, "cannot hold these keys", e)
    })?;
    Ok(names)
}

/// Parses `X,Y`.
fn parse_point(at: &str) -> Result<(u32, u32), MaqetError> {
    let bad = || {
        MaqetError::invalid(format!(
            "`--at {at}` is not a point X,Y in pixels, e.g. 320,200"
        ))
    };
    let (x, y) = at.split_once(',').ok_or_else(bad)?;
    Ok((
        x.trim().parse().map_err(|_| bad())?,
        y.trim().parse().map_err(|_| bad())?,
    ))
}

/// The batches of a click: each is one `input-send-event`, so the guest sees every button
/// change (see the module page).
fn click_batches(
    point: Option<Value>,
    button: &str,
    double: bool,
    held: &[String],
) -> Vec<Vec<Value>> {
    let mut batches = Vec::new();
    if let Some(Value::Array(moves)) = point {
        batches.push(moves);
    }
    if !held.is_empty() {
        batches.push(held.iter().map(|k| key_event(k, true)).collect());
    }
    for _ in 0..if double { 2 } else { 1 } {
        batches.push(vec![button_event(button, true)]);
        batches.push(vec![button_event(button, false)]);
    }
    if !held.is_empty() {
        batches.push(held.iter().rev().map(|k| key_event(k, false)).collect());
    }
    batches
}

impl Maqet {
    /// Sends `events` as one `input-send-event`.
    fn send_input(&self, record: &VmRecord, events: Vec<Value>) -> Result<QmpReply, MaqetError> {
        self.send_input_batches(record, vec![events])
    }

    /// Sends each batch as its own `input-send-event`, in order; returns the last reply.
    fn send_input_batches(
        &self,
        record: &VmRecord,
        batches: Vec<Vec<Value>>,
    ) -> Result<QmpReply, MaqetError> {
        self.block_on(async {
            let client = self.qmp_client(record).await?;
            let mut reply = Value::Object(Default::default());
            for events in batches {
                reply = client
                    .execute("input-send-event", Some(json!({"events": events})))
                    .await?;
            }
            Ok(QmpReply(reply))
        })?
    }

    /// The screen's size, for converting pixels to absolute axis values.
    fn screen_size(&self, record: &VmRecord) -> Result<(u32, u32), MaqetError> {
        let frame = self.screen_frame(record)?;
        Ok((frame.width(), frame.height()))
    }
}

#[api_requests]
impl Maqet {
    /// Move the pointer to X,Y (screen pixels); needs `pointer: tablet` in the VM's config.
    #[api_method(
        group = "qmp",
        name = "mouse-move",
        examples = ["maqet qmp mouse-move web 320 200"]
    )]
    pub fn mouse_move(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "X in screen pixels")] x: u32,
        #[arg(positional, help = "Y in screen pixels")] y: u32,
    ) -> Result<QmpReply, MaqetError> {
        let record = self.running_vm(&vm)?;
        let (width, height) = self.screen_size(&record)?;
        self.send_input(&record, move_events(x, y, width, height))
    }

    /// Click a mouse button (at `--at X,Y` when given), optionally twice or with keys held.
    #[api_method(
        group = "qmp",
        name = "mouse-click",
        examples = [
            "maqet qmp mouse-click web --at 320,200",
            "maqet qmp mouse-click web --button right",
            "maqet qmp mouse-click web --at 10,10 --double --hold ctrl"
        ]
    )]
    pub fn mouse_click(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(help = "left, right or middle", default = "left")] button: String,
        #[arg(help = "Move there first: X,Y in screen pixels", value_name = "X,Y")] at: Option<
            String,
        >,
        #[arg(help = "Click twice")] double: bool,
        #[arg(
            help = "Keys held during the click, e.g. \"ctrl shift\"",
            value_name = "KEYS"
        )]
        hold: Option<String>,
    ) -> Result<QmpReply, MaqetError> {
        if !matches!(button.as_str(), "left" | "right" | "middle") {
            return Err(MaqetError::invalid(format!(
                "`--button {button}`: use left, right or middle"
            )));
        }
        let held = held_keys(hold.as_deref())?;
        let point = at.as_deref().map(parse_point).transpose()?;
        let record = self.running_vm(&vm)?;
        let moves = match point {
            Some((x, y)) => {
                let (width, height) = self.screen_size(&record)?;
                Some(Value::Array(move_events(x, y, width, height)))
            }
            None => None,
        };
        self.send_input_batches(&record, click_batches(moves, &button, double, &held))
    }

    /// Turn the mouse wheel: positive steps scroll down, negative up.
    #[api_method(
        group = "qmp",
        name = "mouse-scroll",
        examples = ["maqet qmp mouse-scroll web 3", "maqet qmp mouse-scroll web -- -2"]
    )]
    pub fn mouse_scroll(
        &self,
        #[arg(positional, help = "VM name or id")] vm: String,
        #[arg(positional, help = "Wheel steps: positive down, negative up")] steps: i64,
    ) -> Result<QmpReply, MaqetError> {
        let record = self.running_vm(&vm)?;
        let wheel = if steps < 0 { "wheel-up" } else { "wheel-down" };
        let events = (0..steps.unsigned_abs().min(100))
            .flat_map(|_| [button_event(wheel, true), button_event(wheel, false)])
            .collect();
        self.send_input(&record, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_become_absolute_axis_values() {
        assert_eq!(abs_value(0, 720), 0);
        assert_eq!(abs_value(719, 720), ABS_MAX);
        assert_eq!(abs_value(5000, 720), ABS_MAX);
        assert_eq!(abs_value(360, 721), ABS_MAX / 2);
        assert_eq!(parse_point("3, 4").unwrap(), (3, 4));
        assert!(parse_point("3").is_err() && parse_point("a,b").is_err());
        assert_eq!(held_keys(Some("ctrl, shift")).unwrap(), ["ctrl", "shift"]);
        assert!(held_keys(Some("nokey")).is_err());
        assert!(held_keys(None).unwrap().is_empty());
    }

    #[test]
    fn each_button_change_is_its_own_batch() {
        let moves = Value::Array(move_events(10, 20, 100, 100));
        let held = vec!["ctrl".to_string()];
        let batches = click_batches(Some(moves), "left", true, &held);
        // move, ctrl down, (press, release) twice, ctrl up.
        assert_eq!(batches.len(), 7, "{batches:?}");
        assert_eq!(batches[0].len(), 2);
        for (batch, down) in batches[2..6].iter().zip([true, false, true, false]) {
            assert_eq!(batch, &vec![button_event("left", down)]);
        }
        assert_eq!(batches[6], vec![key_event("ctrl", false)]);
        assert_eq!(click_batches(None, "right", false, &[]).len(), 2);
    }
}
