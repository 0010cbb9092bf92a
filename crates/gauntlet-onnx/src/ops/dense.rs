//! Dense layers' products (`Gemm`), split across the threads by rows of the result.
//!
//! burn-flex runs a product on one thread below 192³ multiply-adds, which a classifier's
//! dense layers at an attack's batch sizes are (64 × 512 × 100 in the demo CNN): the other core
//! idled through them, a fifth of Square's single-threaded time. Each task here takes a block
//! of the result's columns, forward and backward.

use std::mem::MaybeUninit;

use super::matmul::{build, product_by_columns, Operand};

/// `a [m, k] · b`, with `b` stored `[k, n]` or, transposed, `[n, k]` (PyTorch's `Linear`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenseShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    /// `b` is stored `[n, k]`.
    pub b_transposed: bool,
}

impl DenseShape {
    /// `b` as the right-hand operand (`k × n`).
    fn b<'a>(&self, b: &'a [f32]) -> Operand<'a> {
        if self.b_transposed {
            Operand::transposed(b, self.k)
        } else {
            Operand::rows(b, self.n)
        }
    }

    /// `bᵀ` as the right-hand operand (`n × k`).
    fn b_t<'a>(&self, b: &'a [f32]) -> Operand<'a> {
        if self.b_transposed {
            Operand::rows(b, self.k)
        } else {
            Operand::transposed(b, self.n)
        }
    }
}

/// Columns of a `rows × cols` result per task (the inner dimension `inner`): about 256K
/// multiply-adds and at least 16 columns each, so a task outweighs its scheduling.
fn columns_per_task(rows: usize, cols: usize, inner: usize) -> usize {
    (256 * 1024 / (rows * inner).max(1)).max(16).min(cols)
}

/// `dst (rows × cols) = lhs · rhs`, by blocks of columns in parallel.
fn parallel_product([rows, cols, inner]: [usize; 3], lhs: Operand, rhs: Operand) -> Vec<f32> {
    let columns = columns_per_task(rows, cols, inner);
    let init = |dst: &mut [MaybeUninit<f32>]| {
        product_by_columns(dst, [rows, cols, inner], (lhs, rhs), columns);
    };
    // SAFETY: `product_by_columns` writes every element.
    unsafe { build(rows * cols, init) }
}

/// `y = a · b`, `[m, n]`.
pub fn forward(a: &[f32], b: &[f32], shape: DenseShape) -> Vec<f32> {
    let DenseShape { m, k, n, .. } = shape;
    parallel_product([m, n, k], Operand::rows(a, k), shape.b(b))
}

/// `da = dy · bᵀ`, `[m, k]`.
pub fn lhs_grad(dy: &[f32], b: &[f32], shape: DenseShape) -> Vec<f32> {
    let DenseShape { m, k, n, .. } = shape;
    parallel_product([m, k, n], Operand::rows(dy, n), shape.b_t(b))
}

/// The gradient of `b` in its stored layout: `aᵀ · dy` (`[k, n]`), or `dyᵀ · a` (`[n, k]`)
/// when `b` is stored transposed.
pub fn rhs_grad(a: &[f32], dy: &[f32], shape: DenseShape) -> Vec<f32> {
    let DenseShape { m, k, n, .. } = shape;
    if shape.b_transposed {
        parallel_product([n, k, m], Operand::transposed(dy, n), Operand::rows(a, k))
    } else {
        parallel_product([k, n, m], Operand::transposed(a, k), Operand::rows(dy, n))
    }
}
