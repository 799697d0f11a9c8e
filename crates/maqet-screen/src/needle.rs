//! Needles: reference images found in a frame by normalised cross-correlation.
//!
//! A needle is a PNG (the whole image is searched for), or an openQA needle: a `.json` beside a
//! `.png` of the same name, whose `area` list names the rectangles of the PNG to search for
//! (`type: "match"`; `exclude` and `ocr` areas are ignored) and, per area, the `match` percent
//! it needs. Every area must be found; the needle's score is its worst area's.
//!
//! An openQA needle's PNG is a whole screenshot, so an area's place in it is where it is
//! expected on the screen. As openQA does, each area is searched first near that place (the
//! area grown by [`NEAR_MARGIN`] pixels each side), and on the whole screen (or region) only
//! when it is not found there: most needles match where they were cut, and the near search
//! costs a fraction of the full one.

use std::path::{Path, PathBuf};

use image::GrayImage;
use imageproc::template_matching::{MatchTemplateMethod, match_template};
use serde::{Deserialize, Serialize};

use crate::{Frame, Region, ScreenError};

/// The score a match needs when neither the caller nor the needle says otherwise (openQA's
/// default of 96 %).
pub const DEFAULT_MATCH_THRESHOLD: f64 = 0.96;
/// How far around an openQA area's own place the first search looks, in pixels (openQA's
/// default margin).
pub const NEAR_MARGIN: u32 = 50;

/// A needle loaded from disk.
#[derive(Debug, Clone)]
pub struct Needle {
    /// The PNG the areas come from.
    pub png: PathBuf,
    areas: Vec<Area>,
}

#[derive(Debug, Clone)]
struct Area {
    template: GrayImage,
    /// Where the area is in the needle's PNG.
    origin: Region,
    /// The score it needs, 0.0–1.0.
    threshold: f64,
    /// Whether `origin` is where the area is expected on the screen (an openQA area), so
    /// the search starts there.
    placed: bool,
}

/// Where a needle was found, and how well it matched.
#[derive(Debug, Clone, Serialize)]
pub struct NeedleMatch {
    /// Whether every area scored at least its threshold.
    pub found: bool,
    /// The worst area's score, 0.0–1.0.
    pub score: f64,
    /// The first area's best place on the screen.
    pub x: u32,
    /// See `x`.
    pub y: u32,
    /// The first area's width.
    pub w: u32,
    /// The first area's height.
    pub h: u32,
}

#[derive(Deserialize)]
struct NeedleJson {
    area: Vec<AreaJson>,
}

#[derive(Deserialize)]
struct AreaJson {
    xpos: u32,
    ypos: u32,
    width: u32,
    height: u32,
    #[serde(rename = "type", default = "match_type")]
    kind: String,
    #[serde(rename = "match")]
    percent: Option<f64>,
}

fn match_type() -> String {
    "match".into()
}

impl Needle {
    /// Loads `path`: a `.json` openQA needle (its `.png` beside it), or a `.png` (with its
    /// openQA `.json` when one is beside it, else the whole image).
    pub fn load(path: &Path) -> Result<Needle, ScreenError> {
        let is_json = path.extension().is_some_and(|e| e == "json");
        let (png, json) = if is_json {
            (path.with_extension("png"), Some(path.to_path_buf()))
        } else {
            let json = path.with_extension("json");
            let json = json.is_file().then_some(json);
            (path.to_path_buf(), json)
        };
        let image = image::open(&png)
            .map_err(|source| match source {
                image::ImageError::IoError(source) => ScreenError::File {
                    action: "read",
                    path: png.clone(),
                    source,
                },
                source => ScreenError::Image {
                    path: png.clone(),
                    source,
                },
            })?
            .to_luma8();
        let whole = Region {
            x: 0,
            y: 0,
            w: image.width(),
            h: image.height(),
        };
        let areas = match json {
            None => vec![Area {
                template: image,
                origin: whole,
                threshold: DEFAULT_MATCH_THRESHOLD,
                placed: false,
            }],
            Some(json) => areas_from_json(&json, &image)?,
        };
        Ok(Needle { png, areas })
    }

    /// Searches `frame` (inside `region` when given) for the needle; `threshold` (0.0–1.0)
    /// replaces the thresholds the needle carries.
    pub fn find(
        &self,
        frame: &Frame,
        region: Option<Region>,
        threshold: Option<f64>,
    ) -> Result<NeedleMatch, ScreenError> {
        let bounds = region.unwrap_or(Region {
            x: 0,
            y: 0,
            w: frame.width(),
            h: frame.height(),
        });
        bounds.check_inside(frame.width(), frame.height())?;
        let screen = frame.gray();
        let mut result: Option<NeedleMatch> = None;
        for area in &self.areas {
            let needed = threshold.unwrap_or(area.threshold);
            let near = area
                .placed
                .then(|| grown(area.origin, NEAR_MARGIN).intersect(bounds))
                .flatten();
            let near_best = near.map(|n| best_place_in(&screen, n, &area.template));
            let (score, x, y) = match near_best {
                Some(best) if best.0 >= needed => best,
                _ => best_place_in(&screen, bounds, &area.template),
            };
            let found = score >= needed;
            match &mut result {
                None => {
                    result = Some(NeedleMatch {
                        found,
                        score,
                        x,
                        y,
                        w: area.origin.w,
                        h: area.origin.h,
                    })
                }
                Some(m) => {
                    m.found &= found;
                    m.score = m.score.min(score);
                }
            }
        }
        Ok(result.unwrap_or(NeedleMatch {
            found: false,
            score: 0.0,
            x: 0,
            y: 0,
            w: 0,
            h: 0,
        }))
    }
}

/// `area` grown by `margin` pixels on each side (not past the top-left corner; the caller
/// cuts it to the screen).
fn grown(area: Region, margin: u32) -> Region {
    let x = area.x.saturating_sub(margin);
    let y = area.y.saturating_sub(margin);
    Region {
        x,
        y,
        w: area.x - x + area.w.saturating_add(margin),
        h: area.y - y + area.h.saturating_add(margin),
    }
}

/// [`best_place`] of `template` inside the `within` part of `screen`, with the place in
/// screen coordinates.
fn best_place_in(screen: &GrayImage, within: Region, template: &GrayImage) -> (f64, u32, u32) {
    let part = image::imageops::crop_imm(screen, within.x, within.y, within.w, within.h).to_image();
    let (score, x, y) = best_place(&part, template);
    (score, x + within.x, y + within.y)
}

fn areas_from_json(json: &Path, image: &GrayImage) -> Result<Vec<Area>, ScreenError> {
    let text = std::fs::read_to_string(json).map_err(|source| ScreenError::File {
        action: "read",
        path: json.to_path_buf(),
        source,
    })?;
    let bad = |problem: String| ScreenError::Needle {
        path: json.to_path_buf(),
        problem,
    };
    let parsed: NeedleJson = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let mut areas = Vec::new();
    for a in parsed.area.iter().filter(|a| a.kind == "match") {
        let origin = Region {
            x: a.xpos,
            y: a.ypos,
            w: a.width,
            h: a.height,
        };
        if a.width == 0 || a.height == 0 {
            return Err(bad(format!("area {origin} has no size")));
        }
        origin
            .check_inside(image.width(), image.height())
            .map_err(|e| bad(e.to_string()))?;
        let percent = a.percent.unwrap_or(DEFAULT_MATCH_THRESHOLD * 100.0);
        if !(0.0..=100.0).contains(&percent) {
            return Err(bad(format!("area {origin} has match {percent}, not 0-100")));
        }
        let template =
            image::imageops::crop_imm(image, origin.x, origin.y, origin.w, origin.h).to_image();
        areas.push(Area {
            template,
            origin,
            threshold: percent / 100.0,
            placed: true,
        });
    }
    if areas.is_empty() {
        return Err(bad("no area of type `match`".into()));
    }
    Ok(areas)
}

/// The best normalised cross-correlation score of `template` in `haystack` and its top-left
/// corner; (0, 0, 0) when the template is larger than the haystack.
fn best_place(haystack: &GrayImage, template: &GrayImage) -> (f64, u32, u32) {
    if template.width() > haystack.width() || template.height() > haystack.height() {
        return (0.0, 0, 0);
    }
    let scores = match_template(
        haystack,
        template,
        MatchTemplateMethod::CrossCorrelationNormalized,
    );
    let mut best = (0.0f64, 0, 0);
    for (x, y, p) in scores.enumerate_pixels() {
        let s = f64::from(p.0[0]);
        // A blank patch against a blank template divides by zero: it is no match.
        if s.is_finite() && s > best.0 {
            best = (s, x, y);
        }
    }
    (best.0.min(1.0), best.1, best.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Luma, Rgb, RgbImage};

    fn screen() -> RgbImage {
        let mut img = RgbImage::from_pixel(40, 30, Rgb([0, 0, 0]));
        for (x, y) in [(20, 10), (21, 10), (22, 11), (20, 12), (23, 13), (21, 13)] {
            img.put_pixel(x, y, Rgb([250, 250, 250]));
        }
        img
    }

    #[test]
    fn finds_a_png_needle_and_an_openqa_area() {
        let dir = tempfile::tempdir().unwrap();
        let frame = Frame::from_rgb(screen());
        let patch = image::imageops::crop_imm(&frame.gray(), 18, 8, 8, 8).to_image();
        let png = dir.path().join("mark.png");
        patch.save(&png).unwrap();
        let found = Needle::load(&png)
            .unwrap()
            .find(&frame, None, None)
            .unwrap();
        assert!(found.found && found.score > 0.99, "{found:?}");
        assert_eq!((found.x, found.y, found.w, found.h), (18, 8, 8, 8));
        let elsewhere = Region {
            x: 0,
            y: 0,
            w: 15,
            h: 30,
        };
        let miss = Needle::load(&png)
            .unwrap()
            .find(&frame, Some(elsewhere), None)
            .unwrap();
        assert!(!miss.found, "{miss:?}");

        // openQA: the whole screen as PNG, one match area around the mark.
        let full = dir.path().join("login-prompt.png");
        frame.gray().save(&full).unwrap();
        let json = dir.path().join("login-prompt.json");
        std::fs::write(
            &json,
            r#"{"area": [{"xpos": 18, "ypos": 8, "width": 8, "height": 8, "type": "match", "match": 90},
                         {"xpos": 0, "ypos": 0, "width": 4, "height": 4, "type": "exclude"}],
                "tags": ["login"]}"#,
        )
        .unwrap();
        let m = Needle::load(&json)
            .unwrap()
            .find(&frame, None, None)
            .unwrap();
        assert!(m.found && (m.x, m.y) == (18, 8), "{m:?}");
        let mut moved = GrayImage::from_pixel(40, 30, Luma([0]));
        image::imageops::replace(&mut moved, &patch, 2, 3);
        let m = Needle::load(&full)
            .unwrap()
            .find(
                &Frame::from_rgb(image::DynamicImage::ImageLuma8(moved).to_rgb8()),
                None,
                None,
            )
            .unwrap();
        assert!(m.found && (m.x, m.y) == (2, 3), "{m:?}");
    }

    /// A 300x200 black screen with the mark of [`screen`] (its 8x8 box) at each of `places`.
    fn screen_with_marks(places: &[(u32, u32)]) -> Frame {
        let mark = image::imageops::crop_imm(&screen(), 18, 8, 8, 8).to_image();
        let mut img = RgbImage::from_pixel(300, 200, Rgb([0, 0, 0]));
        for (x, y) in places {
            image::imageops::replace(&mut img, &mark, i64::from(*x), i64::from(*y));
        }
        Frame::from_rgb(img)
    }

    #[test]
    fn an_openqa_area_is_searched_near_its_place_first_then_everywhere() {
        let dir = tempfile::tempdir().unwrap();
        screen_with_marks(&[(200, 150)])
            .save_png(&dir.path().join("n.png"))
            .unwrap();
        let json = dir.path().join("n.json");
        std::fs::write(
            &json,
            r#"{"area": [{"xpos": 200, "ypos": 150, "width": 8, "height": 8}]}"#,
        )
        .unwrap();
        let needle = Needle::load(&json).unwrap();
        // Shown both where it was cut and far away: the near place wins.
        let both = screen_with_marks(&[(10, 10), (200, 150)]);
        let m = needle.find(&both, None, None).unwrap();
        assert!(m.found && (m.x, m.y) == (200, 150), "{m:?}");
        // Shown only far from its place (outside the margin): the whole screen finds it.
        let moved = screen_with_marks(&[(10, 10)]);
        let m = needle.find(&moved, None, None).unwrap();
        assert!(m.found && (m.x, m.y) == (10, 10), "{m:?}");
        // A region keeps both searches inside it.
        let left = Region {
            x: 0,
            y: 0,
            w: 100,
            h: 200,
        };
        let m = needle.find(&both, Some(left), None).unwrap();
        assert!(m.found && (m.x, m.y) == (10, 10), "{m:?}");
        let m = needle
            .find(&screen_with_marks(&[]), Some(left), None)
            .unwrap();
        assert!(!m.found, "{m:?}");
    }

    #[test]
    fn bad_needle_descriptions_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("n.png");
        GrayImage::new(4, 4).save(&png).unwrap();
        let json = dir.path().join("n.json");
        std::fs::write(
            &json,
            r#"{"area": [{"xpos": 2, "ypos": 2, "width": 8, "height": 8}]}"#,
        )
        .unwrap();
        let err = Needle::load(&json).unwrap_err().to_string();
        assert!(
            err.contains("n.json") && err.contains("does not fit"),
            "{err}"
        );
        std::fs::write(&json, "{}").unwrap();
        assert!(Needle::load(&png).is_err());
        let err = Needle::load(&dir.path().join("none.png"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.png"), "{err}");
    }
}
