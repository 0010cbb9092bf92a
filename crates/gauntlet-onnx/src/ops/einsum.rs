//! Einsum, as sums over axes, transposes, reshapes and batched matrix products.
//!
//! Operands are folded left to right. Before each product, a label neither operand shares
//! and no later operand or the output needs is summed out; the product itself puts the
//! shared labels still needed as batch axes, the shared labels no longer needed as the
//! contracted axis, and the rest as rows and columns. Ellipses stand for the leading axes
//! each operand has beyond its letters, aligned right as in broadcasting. Labels repeated
//! within one operand (diagonals) are not supported.

use std::collections::HashMap;

use gauntlet_core::Result;

use super::broadcast::align;
use super::Ctx;
use crate::value::{FloatValue, RANK};

/// An operand and the label of each of its axes.
struct Term {
    v: FloatValue,
    labels: Vec<char>,
}

/// Labels of the axes an ellipsis covers: `'\u{e000}' + k` (private-use characters, never
/// letters), the last `count` of `total`.
fn ellipsis(total: usize, count: usize) -> Vec<char> {
    (total - count..total)
        .map(|k| char::from_u32(0xe000 + k as u32).expect("a valid char"))
        .collect()
}

/// The labels of `text`, with `...` replaced by `covered`.
fn expand(text: &str, covered: Vec<char>) -> Vec<char> {
    match text.split_once("...") {
        Some((before, after)) => {
            [before.chars().collect(), covered, after.chars().collect()].concat()
        }
        None => text.chars().collect(),
    }
}

/// The labels of one operand's side of the equation, for an operand of `rank`.
fn parse_term(ctx: &Ctx, text: &str, rank: usize, total: usize) -> Result<Vec<char>> {
    let letters = text.replace("...", "");
    if let Some(bad) = letters.chars().find(|c| !c.is_ascii_alphabetic()) {
        return Err(ctx.error(format!("unexpected character '{bad}' in the equation")));
    }
    let covered = rank
        .checked_sub(letters.len())
        .filter(|&e| e == 0 || text.contains("..."));
    let Some(covered) = covered else {
        return Err(ctx.error(format!(
            "'{text}' does not name the {rank} axes of its operand"
        )));
    };
    let labels = expand(text, ellipsis(total, covered));
    let mut sorted = labels.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(ctx.error(format!(
            "'{text}' repeats a label (a diagonal), which is not supported"
        )));
    }
    Ok(labels)
}

/// Moves logical axes into the order `perm`.
fn permute(v: FloatValue, perm: &[usize]) -> FloatValue {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return v;
    }
    let offset = RANK - v.rank;
    let full: [usize; RANK] = std::array::from_fn(|i| {
        if i < offset {
            i
        } else {
            perm[i - offset] + offset
        }
    });
    FloatValue {
        t: v.t.permute(full),
        rank: v.rank,
    }
}

/// Sums out every label of `term` not in `keep`.
fn sum_out(term: Term, keep: &[char]) -> Result<Term> {
    let shape = term.v.shape();
    let mut t = term.v.t;
    let mut labels = Vec::new();
    let mut dims = Vec::new();
    for (axis, &l) in term.labels.iter().enumerate() {
        if keep.contains(&l) {
            labels.push(l);
            dims.push(shape[axis]);
        } else {
            t = t.sum_dim(axis + RANK - term.v.rank);
        }
    }
    let v = FloatValue {
        t,
        rank: term.v.rank,
    }
    .reshape(&dims)?;
    Ok(Term { v, labels })
}

/// The product of two terms keeping the labels in `keep`.
fn contract(ctx: &Ctx, a: Term, b: Term, keep: &[char]) -> Result<Term> {
    let mut size: HashMap<char, usize> = HashMap::new();
    for term in [&a, &b] {
        for (&l, d) in term.labels.iter().zip(term.v.shape()) {
            let s = size.entry(l).or_insert(d);
            if *s != d && *s != 1 && d != 1 {
                return Err(ctx.error(format!("label '{l}' has lengths {s} and {d}")));
            }
            *s = (*s).max(d);
        }
    }
    let shared = |l: &char| a.labels.contains(l) && b.labels.contains(l);
    let pick = |labels: &[char], f: &dyn Fn(&char) -> bool| -> Vec<char> {
        labels.iter().copied().filter(|l| f(l)).collect()
    };
    let batch = pick(&a.labels, &|l| shared(l) && keep.contains(l));
    let summed = pick(&a.labels, &|l| shared(l) && !keep.contains(l));
    let rows = pick(&a.labels, &|l| !shared(l));
    let cols = pick(&b.labels, &|l| !shared(l));
    let len = |ls: &[char]| ls.iter().map(|l| size[l]).product::<usize>();
    let (nb, m, k, n) = (len(&batch), len(&rows), len(&summed), len(&cols));
    // Each operand as [batch, rows, contracted] and [batch, contracted, columns].
    let arrange = |v: FloatValue, labels: &[char], order: Vec<char>, dims: &[usize]| {
        let perm: Vec<usize> = order
            .iter()
            .map(|l| labels.iter().position(|x| x == l).expect("own label"))
            .collect();
        let full: Vec<usize> = order.iter().map(|l| size[l]).collect();
        permute(v, &perm).expand_to(&full)?.reshape(dims)
    };
    let [va, vb]: [FloatValue; 2] = align(vec![a.v, b.v]).try_into().expect("two operands");
    let a3 = arrange(
        va,
        &a.labels,
        [&batch[..], &rows, &summed].concat(),
        &[nb, m, k],
    )?;
    let b3 = arrange(
        vb,
        &b.labels,
        [&batch[..], &summed, &cols].concat(),
        &[nb, k, n],
    )?;
    let labels = [batch, rows, cols].concat();
    let dims: Vec<usize> = labels.iter().map(|l| size[l]).collect();
    let v = FloatValue {
        t: a3.t.matmul(b3.t),
        rank: 3,
    }
    .reshape(&dims)?;
    Ok(Term { v, labels })
}

pub fn einsum(ctx: &Ctx, operands: Vec<FloatValue>) -> Result<FloatValue> {
    let equation: String = ctx
        .string("equation", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l.to_string(), Some(r.to_string())),
        None => (equation.clone(), None),
    };
    let sides: Vec<&str> = lhs.split(',').collect();
    if sides.len() != operands.len() || operands.is_empty() {
        return Err(ctx.error(format!(
            "equation '{equation}' names {} operands; the node has {}",
            sides.len(),
            operands.len()
        )));
    }
    // The widest ellipsis: every operand's ellipsis is the last part of it.
    let total = sides
        .iter()
        .zip(&operands)
        .map(|(s, v)| {
            let letters = s.replace("...", "").len();
            if s.contains("...") {
                v.rank.saturating_sub(letters)
            } else {
                0
            }
        })
        .max()
        .unwrap_or(0);
    let mut terms = sides
        .iter()
        .zip(operands)
        .map(|(s, v)| {
            let labels = parse_term(ctx, s, v.rank, total)?;
            Ok(Term { v, labels })
        })
        .collect::<Result<Vec<_>>>()?;
    let output: Vec<char> = match rhs {
        Some(r) => {
            let out = expand(&r, ellipsis(total, total));
            if let Some(l) = out
                .iter()
                .find(|l| !terms.iter().any(|t| t.labels.contains(l)))
            {
                return Err(ctx.error(format!("output label '{l}' names no input axis")));
            }
            out
        }
        None => {
            // Implicit output: the ellipsis, then the letters used once, alphabetically.
            let mut counts: HashMap<char, usize> = HashMap::new();
            for t in &terms {
                for &l in &t.labels {
                    *counts.entry(l).or_default() += 1;
                }
            }
            let mut once: Vec<char> = counts
                .into_iter()
                .filter(|&(l, c)| c == 1 && l.is_ascii_alphabetic())
                .map(|(l, _)| l)
                .collect();
            once.sort_unstable();
            [ellipsis(total, total), once].concat()
        }
    };
    // Labels still needed once `rest` remains: the output's and those of `rest`.
    let needed = |rest: &[Term]| -> Vec<char> {
        let mut keep = output.clone();
        rest.iter().for_each(|t| keep.extend(&t.labels));
        keep
    };
    let mut rest = terms.split_off(1);
    let first = terms.pop().expect("one operand");
    let mut acc = sum_out(first, &needed(&rest))?;
    while !rest.is_empty() {
        let next = rest.remove(0);
        let keep = needed(&rest);
        // A label of `next` that neither `acc` nor anything later has is summed out first.
        let next = sum_out(next, &[keep.clone(), acc.labels.clone()].concat())?;
        acc = contract(ctx, acc, next, &keep)?;
    }
    let perm: Vec<usize> = output
        .iter()
        .map(|l| acc.labels.iter().position(|x| x == l))
        .collect::<Option<_>>()
        .ok_or_else(|| ctx.error("an output label is missing from the operands"))?;
    Ok(permute(acc.v, &perm))
}
