//! Matrix products on row-major slices (the `gemm` crate), writing into fresh or existing
//! memory, and reusable per-thread scratch space for the kernels that need it.

use std::cell::Cell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// One operand of a product: its values and its (row, column) strides.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    /// The values; every element the strides reach must be in range.
    pub values: &'a [f32],
    /// Distance between consecutive rows and between consecutive columns.
    pub strides: [usize; 2],
}

impl<'a> Operand<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(values: &'a [f32], cols: usize) -> Self {
        Operand {
            values,
            strides: [cols, 1],
        }
    }

    /// The transpose of a row-major matrix with `cols` columns.
    pub fn transposed(values: &'a [f32], cols: usize) -> Self {
        Operand {
            values,
            strides: [1, cols],
        }
    }

    /// Whether a `rows × cols` view stays inside the values.
    fn fits(&self, rows: usize, cols: usize) -> bool {
        let [rs, cs] = self.strides;
        rows == 0 || cols == 0 || self.values.len() > (rows - 1) * rs + (cols - 1) * cs
    }
}

/// `dst (m×n, row-major) = lhs (m×k) · rhs (k×n)`, or `dst += …` when `accumulate`.
///
/// # Safety
/// `dst` must be valid for writes of `m · n` floats (and for reads when `accumulate`, then also
/// initialized), and must not overlap the operands.
unsafe fn gemm_raw(
    dst: *mut f32,
    dst_row_stride: usize,
    [m, n, k]: [usize; 3],
    lhs: Operand,
    rhs: Operand,
    accumulate: bool,
) {
    assert!(lhs.fits(m, k) && rhs.fits(k, n));
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the operands were checked to hold every element gemm reads; `dst` is the
    // caller's promise. gemm reads dst only when told to (`accumulate`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.values.as_ptr(),
            lhs.strides[1] as isize,
            lhs.strides[0] as isize,
            rhs.values.as_ptr(),
            rhs.strides[1] as isize,
            rhs.strides[0] as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            // The kernels split the work into rayon tasks themselves.
            gemm::Parallelism::None,
        );
    }
}

/// `dst = lhs · rhs` into memory that need not be initialized: every one of the first `m · n`
/// elements is written, and returned as initialized values.
pub fn product<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    [m, n, k]: [usize; 3],
    lhs: Operand,
    rhs: Operand,
) -> &'d mut [f32] {
    let dst = &mut dst[..m * n];
    if k == 0 {
        return fill(dst, 0.0);
    }
    // SAFETY: dst is an exclusive borrow of m·n elements (so it overlaps nothing), and without
    // `accumulate` gemm only writes it.
    unsafe {
        gemm_raw(dst.as_mut_ptr().cast(), n, [m, n, k], lhs, rhs, false);
        assume_init(dst)
    }
}

/// [`product`] with the columns of `dst` cut into blocks of `columns`, computed in parallel.
/// For products with few rows (a dense layer at an attack's batch size): cutting the rows
/// instead would leave gemm's kernels, 64 rows tall with AVX-512, mostly empty.
pub fn product_by_columns<'d>(
    dst: &'d mut [MaybeUninit<f32>],
    [m, n, k]: [usize; 3],
    (lhs, rhs): (Operand, Operand),
    columns: usize,
) -> &'d mut [f32] {
    let dst = &mut dst[..m * n];
    if k == 0 || columns == 0 || columns >= n {
        return product(dst, [m, n, k], lhs, rhs);
    }
    assert!(lhs.fits(m, k) && rhs.fits(k, n));
    // The address travels as an integer: the blocks are disjoint column ranges of `dst`.
    let base = dst.as_mut_ptr() as usize;
    (0..n.div_ceil(columns)).into_par_iter().for_each(|block| {
        let first = block * columns;
        let width = columns.min(n - first);
        let rhs = Operand {
            values: &rhs.values[first * rhs.strides[1]..],
            strides: rhs.strides,
        };
        // SAFETY: `dst` is an exclusive borrow of m·n elements; this task writes columns
        // first..first + width of each of its m rows (row stride n), which no other task
        // writes; the operands were checked to hold what gemm reads.
        unsafe {
            let dst = (base as *mut f32).add(first);
            gemm_raw(dst, n, [m, width, k], lhs, rhs, false);
        }
    });
    // SAFETY: the blocks cover every column of every row.
    unsafe { assume_init(dst) }
}

/// `dst += lhs · rhs`, `dst` row-major `m × n`.
pub fn add_product(dst: &mut [f32], [m, n, k]: [usize; 3], lhs: Operand, rhs: Operand) {
    assert!(dst.len() >= m * n);
    // SAFETY: dst is an exclusive, initialized borrow of at least m·n elements.
    unsafe { gemm_raw(dst.as_mut_ptr(), n, [m, n, k], lhs, rhs, true) }
}

/// `dst = lhs · rhs`, `dst` row-major `m × n` (its old values are not read).
pub fn set_product(dst: &mut [f32], [m, n, k]: [usize; 3], lhs: Operand, rhs: Operand) {
    // SAFETY: f32 → MaybeUninit<f32> only forgets that the values are initialized; `product`
    // writes initialized values back.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    product(dst, [m, n, k], lhs, rhs);
}

/// Writes `value` into every element and returns them as initialized values.
pub fn fill(dst: &mut [MaybeUninit<f32>], value: f32) -> &mut [f32] {
    for v in dst.iter_mut() {
        v.write(value);
    }
    // SAFETY: every element was just written.
    unsafe { assume_init(dst) }
}

/// # Safety
/// Every element of `dst` must be initialized.
unsafe fn assume_init(dst: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and the caller promises initialization.
    unsafe { &mut *(dst as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// A vector of `len` floats built by `init` without zeroing them first.
///
/// # Safety
/// `init` must initialize every element of the slice it is given (through [`product`],
/// [`fill`] or `MaybeUninit::write`).
pub unsafe fn build(len: usize, init: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    init(&mut v.spare_capacity_mut()[..len]);
    // SAFETY: the capacity is `len`, and the caller promises `init` initialized all of it.
    unsafe { v.set_len(len) };
    v
}

thread_local! {
    /// Scratch space of the kernels running on this thread, kept between calls.
    static SCRATCH: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// Runs `work` with `len` floats of this thread's scratch space (contents unspecified). The
/// space is taken out while in use, so a nested call (work stealing) gets its own.
pub fn with_scratch<T>(len: usize, work: impl FnOnce(&mut [f32]) -> T) -> T {
    let mut buf = SCRATCH.with(Cell::take);
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    let out = work(&mut buf[..len]);
    SCRATCH.with(|s| s.set(buf));
    out
}
