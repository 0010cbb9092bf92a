//! The im2col mapping of one sample (one channel group of it): row `(c, i, j)` of the column
//! matrix holds, for each output position `(oy, ox)`, the input pixel under kernel tap `(i, j)`
//! (zero in the padding). A convolution is then one matrix product per sample and group.

use super::conv_shape::{ColumnRange, ConvShape};

/// The column matrix of one group of one sample: [`Columns::gather`] builds it,
/// [`Columns::scatter_add`] is its adjoint.
pub struct Columns {
    shape: ConvShape,
    /// Input channels of one group.
    channels: usize,
    out: [usize; 2],
    ranges: Vec<ColumnRange>,
}

/// Where one row segment of the column matrix reads: output row `oy`'s part that reads input
/// row `y`, output columns `lo..hi` from input column `first` on.
#[derive(Clone, Copy)]
struct Segment {
    y: usize,
    range: ColumnRange,
}

impl Columns {
    /// The mapping for one group of `shape` (its `channels / groups` input channels).
    pub fn new(shape: ConvShape) -> Self {
        let [_, _, oh, ow] = shape.output();
        Columns {
            shape,
            channels: shape.group_in(),
            out: [oh, ow],
            ranges: shape.column_ranges(),
        }
    }

    /// Rows of the column matrix (`channels / groups · kh · kw`) and its columns (`oh · ow`).
    pub fn dims(&self) -> (usize, usize) {
        (
            self.channels * self.shape.kernel[0] * self.shape.kernel[1],
            self.out[0] * self.out[1],
        )
    }

    /// Visits every column-matrix row segment of channel `ch` (one output row long):
    /// `f(start, Some(segment))` where it reads the image, `f(start, None)` where the whole
    /// row lies in the padding. `start` indexes the column matrix of that channel alone.
    fn for_each_segment(&self, mut f: impl FnMut(usize, Option<Segment>)) {
        let [kh, _] = self.shape.kernel;
        let [oh, ow] = self.out;
        for i in 0..kh {
            for (j, &range) in self.ranges.iter().enumerate() {
                let row = i * self.ranges.len() + j;
                for oy in 0..oh {
                    let start = (row * oh + oy) * ow;
                    match self.shape.input_row(oy, i) {
                        Some(y) if range.lo < range.hi => f(start, Some(Segment { y, range })),
                        _ => f(start, None),
                    }
                }
            }
        }
    }

    /// Fills `col` (`rows × cols`) from one group's `[channels / groups, height, width]`
    /// values; every element of `col` is written.
    pub fn gather(&self, group: &[f32], col: &mut [f32]) {
        let plane = self.shape.input[2] * self.shape.input[3];
        for (ch, col) in col.chunks_mut(self.per_channel().max(1)).enumerate() {
            self.gather_channel(&group[ch * plane..(ch + 1) * plane], col);
        }
    }

    /// The rows of one input channel plane.
    pub fn gather_channel(&self, plane: &[f32], col: &mut [f32]) {
        let w = self.shape.input[3];
        let ow = self.out[1];
        let stride = self.shape.window.stride[1];
        self.for_each_segment(|start, segment| {
            let dst = &mut col[start..start + ow];
            let Some(Segment { y, range }) = segment else {
                dst.fill(0.0);
                return;
            };
            let ColumnRange { lo, hi, first } = range;
            let line = &plane[y * w..(y + 1) * w];
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            if stride == 1 {
                dst[lo..hi].copy_from_slice(&line[first..first + (hi - lo)]);
            } else {
                for (d, &v) in dst[lo..hi]
                    .iter_mut()
                    .zip(line[first..].iter().step_by(stride))
                {
                    *d = v;
                }
            }
        });
    }

    /// Adds the rows of one input channel back onto its gradient plane: the adjoint of
    /// [`Columns::gather_channel`].
    pub fn scatter_add_channel(&self, col: &[f32], plane: &mut [f32]) {
        let w = self.shape.input[3];
        let stride = self.shape.window.stride[1];
        self.for_each_segment(|start, segment| {
            let Some(Segment { y, range }) = segment else {
                return;
            };
            let ColumnRange { lo, hi, first } = range;
            let src = &col[start + lo..start + hi];
            let line = &mut plane[y * w..(y + 1) * w];
            if stride == 1 {
                for (d, &v) in line[first..first + (hi - lo)].iter_mut().zip(src) {
                    *d += v;
                }
            } else {
                for (d, &v) in line[first..].iter_mut().step_by(stride).zip(src) {
                    *d += v;
                }
            }
        });
    }

    /// Adds `col` back onto one group's `[channels / groups, height, width]` gradient: the
    /// adjoint of [`Columns::gather`].
    pub fn scatter_add(&self, col: &[f32], group: &mut [f32]) {
        let plane = self.shape.input[2] * self.shape.input[3];
        for (ch, col) in col.chunks(self.per_channel().max(1)).enumerate() {
            self.scatter_add_channel(col, &mut group[ch * plane..(ch + 1) * plane]);
        }
    }

    /// Column-matrix values per input channel (`kh · kw · oh · ow`).
    pub fn per_channel(&self) -> usize {
        self.shape.kernel[0] * self.shape.kernel[1] * self.out[0] * self.out[1]
    }
}
