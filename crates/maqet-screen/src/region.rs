//! A rectangle of the screen, `X,Y,W,H` in screen pixels.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::ScreenError;

/// A rectangle in screen pixels: left, top, width, height.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Region {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width (at least 1).
    pub w: u32,
    /// Height (at least 1).
    pub h: u32,
}

impl Region {
    /// Fails unless the region lies inside a `width` × `height` screen.
    pub fn check_inside(&self, width: u32, height: u32) -> Result<(), ScreenError> {
        let fits = u64::from(self.x) + u64::from(self.w) <= u64::from(width)
            && u64::from(self.y) + u64::from(self.h) <= u64::from(height);
        if fits {
            Ok(())
        } else {
            Err(ScreenError::BadRegion {
                region: self.to_string(),
                problem: format!("does not fit the {width}x{height} screen"),
            })
        }
    }
}

impl Region {
    /// The part both regions cover; `None` when they do not overlap.
    pub fn intersect(&self, other: Region) -> Option<Region> {
        let x0 = self.x.max(other.x);
        let y0 = self.y.max(other.y);
        let x1 =
            (u64::from(self.x) + u64::from(self.w)).min(u64::from(other.x) + u64::from(other.w));
        let y1 =
            (u64::from(self.y) + u64::from(self.h)).min(u64::from(other.y) + u64::from(other.h));
        let w = u32::try_from(x1.checked_sub(u64::from(x0))?).ok()?;
        let h = u32::try_from(y1.checked_sub(u64::from(y0))?).ok()?;
        (w > 0 && h > 0).then_some(Region { x: x0, y: y0, w, h })
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{},{},{}", self.x, self.y, self.w, self.h)
    }
}

impl FromStr for Region {
    type Err = ScreenError;

    fn from_str(text: &str) -> Result<Region, ScreenError> {
        let bad = |problem: &str| ScreenError::BadRegion {
            region: text.to_string(),
            problem: problem.to_string(),
        };
        let numbers: Vec<u32> = text
            .split(',')
            .map(|n| n.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("is not four whole numbers X,Y,W,H such as 0,0,320,16"))?;
        let [x, y, w, h] = numbers[..] else {
            return Err(bad("is not four whole numbers X,Y,W,H such as 0,0,320,16"));
        };
        if w == 0 || h == 0 {
            return Err(bad("has no area; width and height must be at least 1"));
        }
        Ok(Region { x, y, w, h })
    }
}

#[cfg(test)]
mod tests {
    use super::Region;

    #[test]
    fn parses_and_checks_bounds() {
        let r: Region = "8, 16,100,32".parse().unwrap();
        assert_eq!(
            r,
            Region {
                x: 8,
                y: 16,
                w: 100,
                h: 32
            }
        );
        assert!(r.check_inside(108, 48).is_ok());
        let err = r.check_inside(100, 48).unwrap_err().to_string();
        assert!(
            err.contains("8,16,100,32") && err.contains("100x48"),
            "{err}"
        );
        let other = Region {
            x: 100,
            y: 40,
            w: 50,
            h: 50,
        };
        assert_eq!(
            r.intersect(other),
            Some(Region {
                x: 100,
                y: 40,
                w: 8,
                h: 8
            })
        );
        assert_eq!(
            r.intersect(Region {
                x: 0,
                y: 0,
                w: 8,
                h: 16
            }),
            None
        );
        for bad in ["1,2,3", "a,b,c,d", "0,0,0,5", "1,2,3,4,5", "-1,0,4,4"] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }
}
