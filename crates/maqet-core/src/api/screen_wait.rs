//! `wait --screen-text`, `--screen-match`, `--screen-still`, `--screen-change`: polling the
//! VM's screen until it shows what a script waits for.
//!
//! Each poll takes one picture through the screendump pipe ([`crate::screen_capture`]); OCR
//! runs only when the looked-at part of the screen changed since the last read. A wait that
//! times out keeps its last picture (and, for text, what OCR read) in the VM's data dir and
//! names both files in the error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maqet_screen::{Frame, Needle, Region, similarity};
use maqet_state::VmRecord;
use serde_json::{Value, json};

use super::screen::{check_threshold, parse_region, record_step, write_new};
use crate::screen_capture::{ScreenCapture, screen_error};
use crate::{ErrorKind, Maqet, MaqetError};

/// Pause between two pictures (each picture itself takes a screendump, and OCR when it changed).
const POLL_PAUSE: Duration = Duration::from_millis(100);

/// What the screen must show.
#[derive(Debug, Clone)]
pub enum ScreenCondition {
    /// OCR text in which this regular expression matches.
    Text(regex::Regex),
    /// A needle image scoring at least the threshold.
    Match(Box<Needle>),
    /// Nothing changed for this long.
    Still(Duration),
    /// Anything changed from the first picture.
    Change,
}

/// A screen wait: the condition, where to look and what counts.
#[derive(Debug, Clone)]
pub struct ScreenWait {
    /// What to wait for.
    pub condition: ScreenCondition,
    /// The part of the screen looked at (all of it when `None`).
    pub region: Option<Region>,
    /// Needle score needed, or for still/change the share of equal pixels that still counts as
    /// "the same" (default 1.0: any pixel differs is a change).
    pub threshold: Option<f64>,
    /// Keep a numbered picture of every change in this directory.
    pub record: Option<PathBuf>,
}

impl ScreenWait {
    /// The screen wait the `wait` flags ask for, `None` when they ask for none; fails on a bad
    /// regex, needle, region or threshold, or when more than one screen condition is given.
    /// The screen wait `condition` asks for, with the screen options of `wait`; `None` for
    /// a condition that does not look at the screen (then `--region`/`--threshold` are refused).
    pub fn of_condition(
        condition: &super::wait_for::WaitCondition,
        region: Option<&str>,
        threshold: Option<f64>,
        record: Option<&Path>,
    ) -> Result<Option<ScreenWait>, MaqetError> {
        use super::wait_for::WaitCondition as W;
        let (text, needle, still, change) = match condition {
            W::ScreenText(text) => (Some(text.as_str()), None, None, false),
            W::ScreenMatch(needle) => (None, Some(needle.as_path()), None, false),
            W::ScreenStill(seconds) => (None, None, Some(*seconds), false),
            W::ScreenChange => (None, None, None, true),
            _ => (None, None, None, false),
        };
        ScreenWait::from_flags(text, needle, still, change, region, threshold, record)
    }

    pub fn from_flags(
        text: Option<&str>,
        needle: Option<&Path>,
        still: Option<f64>,
        change: bool,
        region: Option<&str>,
        threshold: Option<f64>,
        record: Option<&Path>,
    ) -> Result<Option<ScreenWait>, MaqetError> {
        let given = [text.is_some(), needle.is_some(), still.is_some(), change];
        let count = given.iter().filter(|b| **b).count();
        if count == 0 {
            if region.is_some() || threshold.is_some() {
                return Err(MaqetError::invalid(
                    "--region and --threshold go with --screen-text, --screen-match, --screen-still or --screen-change",
                ));
            }
            return Ok(None);
        }
        let condition = if let Some(pattern) = text {
            ScreenCondition::Text(regex::Regex::new(pattern).map_err(|e| {
                MaqetError::with_source(
                    ErrorKind::InvalidInput,
                    format!("`{pattern}` is not a valid regular expression"),
                    e,
                )
            })?)
        } else if let Some(path) = needle {
            let path = crate::config::absolute(path);
            ScreenCondition::Match(Box::new(Needle::load(&path).map_err(screen_error)?))
        } else if let Some(seconds) = still {
            ScreenCondition::Still(crate::seconds::seconds("screen-still", seconds)?)
        } else {
            ScreenCondition::Change
        };
        Ok(Some(ScreenWait {
            condition,
            region: parse_region(region)?,
            threshold: check_threshold(threshold)?,
            record: record.map(crate::config::absolute),
        }))
    }

    /// What the wait is for, in words.
    fn describe(&self) -> String {
        let place = self.region.map_or_else(
            || "the screen".to_string(),
            |r| format!("screen region {r}"),
        );
        match &self.condition {
            ScreenCondition::Text(re) => format!("`{re}` in the text of {place}"),
            ScreenCondition::Match(n) => format!("needle {} on {place}", n.png.display()),
            ScreenCondition::Still(d) => {
                format!("{place} to stay unchanged for {:.1} s", d.as_secs_f64())
            }
            ScreenCondition::Change => format!("{place} to change"),
        }
    }
}

/// What the last poll saw, kept as evidence for a timeout.
#[derive(Default)]
struct LastSeen {
    frame: Option<Frame>,
    text: Option<String>,
}

impl Maqet {
    /// Polls the screen of `record` until `wait` is met; returns what matched.
    pub(crate) fn wait_for_screen(
        &self,
        record: &VmRecord,
        wait: &ScreenWait,
        limit: Duration,
    ) -> Result<Value, MaqetError> {
        self.require_running(record)?;
        let capture = ScreenCapture::new(&self.vm_paths(record).runtime_dir)?;
        let started = Instant::now();
        let mut seen = LastSeen::default();
        let outcome = self.block_on(async {
            let client = self.qmp_client(record).await?;
            self.poll_screen(&client, &capture, wait, started, limit, &mut seen)
                .await
        })?;
        match outcome {
            Ok(Some(found)) => Ok(found),
            Ok(None) => Err(self.screen_timeout(record, wait, limit, &seen)),
            Err(e) => Err(e),
        }
    }

    async fn poll_screen(
        &self,
        client: &maqet_qmp::QmpClient,
        capture: &ScreenCapture,
        wait: &ScreenWait,
        started: Instant,
        limit: Duration,
        seen: &mut LastSeen,
    ) -> Result<Option<Value>, MaqetError> {
        let same_at = match wait.condition {
            ScreenCondition::Still(_) | ScreenCondition::Change => wait.threshold.unwrap_or(1.0),
            _ => 1.0,
        };
        // The region looked at, `null` for the whole screen: part of every answer.
        let region = wait
            .region
            .map_or(Value::Null, |r| Value::String(r.to_string()));
        let mut last_view: Option<Frame> = None;
        let mut unchanged_since = Instant::now();
        loop {
            let full = capture.grab(client).await?;
            let view = full.crop(wait.region).map_err(screen_error)?;
            let changed = last_view
                .as_ref()
                .is_none_or(|last| similarity(last, &view) < same_at);
            if changed {
                if let Some(dir) = &wait.record {
                    record_step(dir, "wait", &full)?;
                }
                if last_view.is_some() {
                    unchanged_since = Instant::now();
                }
            }
            let found = match &wait.condition {
                ScreenCondition::Text(re) if changed => {
                    let shown = view.clone();
                    let text =
                        tokio::task::spawn_blocking(move || maqet_screen::ocr::read_text(&shown))
                            .await
                            .map_err(|e| {
                                MaqetError::new(ErrorKind::Failure, format!("OCR failed: {e}"))
                            })?
                            .map_err(screen_error)?;
                    let found = matching_text(re, &text);
                    seen.text = Some(text);
                    found.map(|line| json!({"text": line, "region": region}))
                }
                ScreenCondition::Text(_) => None,
                ScreenCondition::Match(needle) => {
                    let m = needle
                        .find(&full, wait.region, wait.threshold)
                        .map_err(screen_error)?;
                    m.found.then(|| {
                        let mut value = serde_json::to_value(&m).unwrap_or(Value::Null);
                        if let Value::Object(fields) = &mut value {
                            fields.insert("region".into(), region.clone());
                        }
                        value
                    })
                }
                ScreenCondition::Still(d) => {
                    (last_view.is_some() && unchanged_since.elapsed() >= *d).then(|| {
                        json!({
                            "still_ms": unchanged_since.elapsed().as_millis() as u64,
                            "region": region,
                        })
                    })
                }
                ScreenCondition::Change => (last_view.is_some() && changed)
                    .then(|| json!({"changed": true, "region": region})),
            };
            seen.frame = Some(full);
            if found.is_some() {
                return Ok(found);
            }
            last_view = Some(view);
            if started.elapsed() >= limit {
                return Ok(None);
            }
            self.progress(&format!("waiting for {}", wait.describe()));
            tokio::time::sleep(POLL_PAUSE.min(limit.saturating_sub(started.elapsed()))).await;
        }
    }

    /// The timeout error, after keeping the last picture (and OCR text) in the VM's data dir.
    fn screen_timeout(
        &self,
        record: &VmRecord,
        wait: &ScreenWait,
        limit: Duration,
        seen: &LastSeen,
    ) -> MaqetError {
        let mut what = wait.describe();
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let base = self
            .vm_paths(record)
            .data_dir
            .join(format!("screen-timeout-{stamp}"));
        let png = base.with_extension("png");
        let kept = seen.frame.as_ref().map(|frame| {
            frame
                .png_bytes()
                .map_err(std::io::Error::other)
                .and_then(|bytes| write_new(&png, &bytes))
        });
        match kept {
            Some(Ok(())) => what.push_str(&format!("; the last screen is in {}", png.display())),
            Some(Err(e)) => what.push_str(&format!("; could not keep the last screen: {e}")),
            None => {}
        }
        if let Some(text) = &seen.text {
            let txt = base.with_extension("txt");
            if write_new(&txt, text.as_bytes()).is_ok() {
                what.push_str(&format!(" and what OCR read in {}", txt.display()));
            }
        }
        MaqetError::WaitTimedOut {
            what,
            after: limit,
            source: None,
        }
    }
}

/// The line `wait` prints for a screen condition's answer (`None` for other conditions):
/// the text OCR matched, the needle's score and box, how long the screen was still, or that
/// it changed; each with the region looked at.
pub(crate) fn human_line(condition: &str, matched: &Value) -> Option<String> {
    let place = match matched.get("region").and_then(Value::as_str) {
        Some(region) => format!("in region {region}"),
        None => "on the screen".to_string(),
    };
    let number = |key: &str| matched.get(key).and_then(Value::as_u64).unwrap_or(0);
    Some(match condition {
        "screen-text" => {
            let text = matched.get("text").and_then(Value::as_str).unwrap_or("");
            format!("text {text:?} {place}")
        }
        "screen-match" => format!(
            "needle found {place}: score {:.3} at {},{} size {}x{}",
            matched.get("score").and_then(Value::as_f64).unwrap_or(0.0),
            number("x"),
            number("y"),
            number("w"),
            number("h"),
        ),
        "screen-still" => format!(
            "nothing changed {place} for {:.1} s",
            number("still_ms") as f64 / 1000.0
        ),
        "screen-change" => format!("something changed {place}"),
        _ => return None,
    })
}

/// The first OCR line the pattern matches, else the whole text when the pattern spans lines.
fn matching_text(re: &regex::Regex, text: &str) -> Option<String> {
    text.lines()
        .find(|line| re.is_match(line))
        .map(str::to_string)
        .or_else(|| re.find(text).map(|m| m.as_str().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_pick_one_condition() {
        let none = ScreenWait::from_flags(None, None, None, false, None, None, None).unwrap();
        assert!(none.is_none());
        let err = ScreenWait::from_flags(None, None, None, false, Some("0,0,4,4"), None, None)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let text = ScreenWait::from_flags(
            Some("log+in:"),
            None,
            None,
            false,
            Some("0,0,8,16"),
            None,
            None,
        )
        .unwrap()
        .unwrap();
        assert!(
            text.describe().contains("screen region 0,0,8,16"),
            "{}",
            text.describe()
        );
        let still = ScreenWait::from_flags(None, None, Some(1.5), false, None, Some(0.99), None)
            .unwrap()
            .unwrap();
        assert!(
            matches!(still.condition, ScreenCondition::Still(d) if d == Duration::from_millis(1500))
        );
        for bad in [
            ScreenWait::from_flags(Some("("), None, None, false, None, None, None),
            ScreenWait::from_flags(None, None, None, true, None, Some(1.5), None),
            ScreenWait::from_flags(None, None, None, true, Some("1,2"), None, None),
            ScreenWait::from_flags(
                None,
                Some(Path::new("/nonexistent/n.png")),
                None,
                false,
                None,
                None,
                None,
            ),
        ] {
            assert!(bad.is_err());
        }
    }

    #[test]
    fn screen_answers_read_as_one_line() {
        let text = json!({"text": "maqet-guest login:", "region": null});
        assert_eq!(
            human_line("screen-text", &text).unwrap(),
            "text \"maqet-guest login:\" on the screen"
        );
        let needle = json!({"found": true, "score": 0.99712, "x": 0, "y": 16, "w": 216,
                            "h": 16, "region": "0,0,640,200"});
        assert_eq!(
            human_line("screen-match", &needle).unwrap(),
            "needle found in region 0,0,640,200: score 0.997 at 0,16 size 216x16"
        );
        let still = json!({"still_ms": 1530, "region": null});
        assert_eq!(
            human_line("screen-still", &still).unwrap(),
            "nothing changed on the screen for 1.5 s"
        );
        let change = json!({"changed": true, "region": "0,0,64,16"});
        assert_eq!(
            human_line("screen-change", &change).unwrap(),
            "something changed in region 0,0,64,16"
        );
        assert!(human_line("serial", &json!("login:")).is_none());
    }

    #[test]
    fn text_matches_a_line_or_across_lines() {
        let re = regex::Regex::new("log+in:").unwrap();
        assert_eq!(
            matching_text(&re, "Welcome\nmaqet login: \n").as_deref(),
            Some("maqet login: ")
        );
        let across = regex::Regex::new("(?s)one.*two").unwrap();
        assert_eq!(
            matching_text(&across, "one\ntwo").as_deref(),
            Some("one\ntwo")
        );
        assert!(matching_text(&re, "nothing").is_none());
    }
}
