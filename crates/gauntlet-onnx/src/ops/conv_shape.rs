//! The geometry of one 2-D convolution: shapes, groups, and which input pixel each kernel tap
//! reads for each output position. Shared by the im2col/GEMM kernels and the direct depthwise
//! kernel.

/// Window of a convolution, per spatial axis (height, width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvWindow {
    /// Step between consecutive windows; ≥ 1.
    pub stride: [usize; 2],
    /// Zeros added (before, after) the input.
    pub padding: [(usize, usize); 2],
    /// Spacing between kernel taps; 1 is a contiguous kernel.
    pub dilation: [usize; 2],
}

/// Shapes of one convolution: input `[batch, channels, height, width]`, weights
/// `[out_channels, channels / groups, kernel[0], kernel[1]]`; output channel `co` reads the
/// input channels of group `co / (out_channels / groups)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// `[batch, channels, height, width]` of the input.
    pub input: [usize; 4],
    /// Output channels (filters).
    pub out_channels: usize,
    /// Kernel height and width.
    pub kernel: [usize; 2],
    /// Stride, padding and dilation.
    pub window: ConvWindow,
    /// Channel groups (1: every filter reads every input channel).
    pub groups: usize,
}

fn output_len(
    input: usize,
    kernel: usize,
    stride: usize,
    (begin, end): (usize, usize),
    dilation: usize,
) -> usize {
    let span = dilation * (kernel - 1) + 1;
    let padded = input + begin + end;
    if padded < span || stride == 0 {
        0
    } else {
        (padded - span) / stride + 1
    }
}

/// For one kernel column: the output columns `lo..hi` whose input column lies inside the
/// image, and `first`, the input column of output column `lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnRange {
    /// First output column that reads inside the image.
    pub lo: usize,
    /// One past the last such output column (`lo == hi`: none).
    pub hi: usize,
    /// Input column read by output column `lo`.
    pub first: usize,
}

impl ConvShape {
    /// Output `[batch, out_channels, out_height, out_width]`.
    pub fn output(&self) -> [usize; 4] {
        let [n, _, h, w] = self.input;
        let win = &self.window;
        let len = |axis: usize, size: usize| {
            output_len(
                size,
                self.kernel[axis],
                win.stride[axis],
                win.padding[axis],
                win.dilation[axis],
            )
        };
        [n, self.out_channels, len(0, h), len(1, w)]
    }

    /// `[out_channels, channels / groups, kernel[0], kernel[1]]`.
    pub fn weight(&self) -> [usize; 4] {
        [
            self.out_channels,
            self.input[1] / self.groups.max(1),
            self.kernel[0],
            self.kernel[1],
        ]
    }

    /// Input channels per group.
    pub fn group_in(&self) -> usize {
        self.input[1] / self.groups.max(1)
    }

    /// Output channels (filters) per group.
    pub fn group_out(&self) -> usize {
        self.out_channels / self.groups.max(1)
    }

    /// Whether the shapes describe a computable convolution: no zero kernel, stride or
    /// dilation, and groups that divide both channel counts.
    pub fn is_valid(&self) -> bool {
        let g = self.groups;
        !self.kernel.contains(&0)
            && !self.window.stride.contains(&0)
            && !self.window.dilation.contains(&0)
            && g >= 1
            && self.input[1].is_multiple_of(g)
            && self.out_channels.is_multiple_of(g)
    }

    /// One input channel per group and more than one group: each filter slides over a single
    /// channel plane (MobileNet's depthwise layers), best computed directly.
    pub fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.group_in() == 1
    }

    /// A 1×1 kernel at stride 1 without padding: a sample's `[channels, h·w]` values already
    /// are its column matrix.
    pub fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.window.stride == [1, 1]
            && self.window.padding == [(0, 0), (0, 0)]
    }

    /// The input row read by kernel row `i` at output row `oy`, or `None` in the padding.
    pub fn input_row(&self, oy: usize, i: usize) -> Option<usize> {
        let win = &self.window;
        (oy * win.stride[0] + i * win.dilation[0])
            .checked_sub(win.padding[0].0)
            .filter(|&y| y < self.input[2])
    }

    /// [`ColumnRange`] of every kernel column, so rows copy without per-element bounds checks.
    pub fn column_ranges(&self) -> Vec<ColumnRange> {
        let [_, _, _, ow] = self.output();
        let w = self.input[3];
        let win = &self.window;
        let (pad, stride) = (win.padding[1].0, win.stride[1]);
        (0..self.kernel[1])
            .map(|j| {
                let offset = j * win.dilation[1];
                // ox is valid when 0 <= ox·stride + offset − pad < w.
                let lo = pad.saturating_sub(offset).div_ceil(stride);
                let hi = if w + pad > offset {
                    ((w + pad - offset - 1) / stride + 1).min(ow)
                } else {
                    0
                };
                let lo = lo.min(hi);
                ColumnRange {
                    lo,
                    hi,
                    first: (lo * stride + offset).saturating_sub(pad),
                }
            })
            .collect()
    }
}
