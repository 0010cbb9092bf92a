//! How a flat row is read by the attacks that search over image structure (Square's windows,
//! SimBA's DCT basis): `c` planes of `h × w`, channels first.

/// A flat row as `c` planes of `h × w`: `[C, H, W]` as given, `[H, W]` as one plane; any other
/// shape (flat `[D]` features, or rank ≥ 4) as one `1 × D` plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Planes {
    pub(crate) c: usize,
    pub(crate) h: usize,
    pub(crate) w: usize,
}

impl Planes {
    /// The planes of a sample of `shape` with `features` values.
    pub(crate) fn of(shape: &[usize], features: usize) -> Planes {
        match *shape {
            [c, h, w] if c * h * w == features && h > 0 && w > 0 => Planes { c, h, w },
            [h, w] if h * w == features && h > 0 && w > 0 => Planes { c: 1, h, w },
            _ => Planes {
                c: 1,
                h: 1,
                w: features.max(1),
            },
        }
    }

    /// Flat index of channel `ch`, row `i`, column `j`.
    pub(crate) fn index(&self, ch: usize, i: usize, j: usize) -> usize {
        (ch * self.h + i) * self.w + j
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_become_planes() {
        assert_eq!(
            Planes::of(&[3, 32, 32], 3072),
            Planes { c: 3, h: 32, w: 32 }
        );
        assert_eq!(Planes::of(&[28, 28], 784), Planes { c: 1, h: 28, w: 28 });
        assert_eq!(Planes::of(&[100], 100), Planes { c: 1, h: 1, w: 100 });
        assert_eq!(Planes::of(&[1, 2, 3, 4], 24), Planes { c: 1, h: 1, w: 24 });
        assert_eq!(Planes::of(&[1, 28, 28], 784).index(0, 1, 2), 30);
    }
}
