//! Scaled dot-product attention over grouped KV heads as one op, without copying the
//! keys and values once per query head (`repeat_kv`).
//!
//! Layout `[b, t, heads, d]` for queries, keys and values (the projections' own
//! layout, so no transposes); keys and values may be strided views, e.g. the first
//! `s` positions of a preallocated cache. Scores are `q·k * scale`, then Gemma's
//! soft-capping `cap * tanh(x / cap)`, then hidden keys (causal, padding, sliding
//! window) get [`MASKED`] added, then a softmax: the composed path's arithmetic, so
//! both agree to rounding. Nothing but the output is kept for the backward, which
//! recomputes the probabilities from `q` and `k` (flash-attention style): the
//! `[b, heads, t, s]` probabilities are never held across the step.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::{Mat, Real, contiguous, dispatch, matmul, split, vectorised, with_cpu};

/// Bias added to the score of a hidden key. Finite, so a query that sees no key at
/// all (a left-padding position) gets a uniform row instead of NaN.
pub const MASKED: f64 = -1e9;

/// Below this, `exp` of a shifted score is taken as 0: f32's `exp` underflows there,
/// and libm's underflow path (it sets `errno`) costs several times a normal call —
/// every hidden key of a causal row used to take it. In f64 the dropped terms are
/// under 1e-38 beside a row sum of at least 1.
const EXP_FLOOR: f64 = -88.0;

/// Which keys each query sees.
#[derive(Debug, Clone)]
pub struct AttentionMask {
    /// `[b * s]`: 1 where key position `j` of row `b` is a real token.
    pub key_valid: Arc<Vec<u8>>,
    /// Absolute position of the first query; queries are at `past..past + t`.
    pub past: usize,
    /// Keys further back than this many positions are hidden (Gemma's local layers).
    pub window: Option<usize>,
}

impl AttentionMask {
    /// `(first, last)`: query `query` sees the real tokens among keys `first..=last`
    /// (causal, and inside the sliding window when there is one).
    fn reach(&self, query: usize) -> (usize, usize) {
        let last = self.past + query;
        let first = self.window.map_or(0, |w| (last + 1).saturating_sub(w));
        (first, last)
    }

    fn visible(&self, row: usize, s: usize, query: usize, key: usize) -> bool {
        let (first, last) = self.reach(query);
        (first..=last).contains(&key) && self.key_valid[row * s + key] == 1
    }
}

#[derive(Clone)]
struct Attention {
    mask: AttentionMask,
    scale: f64,
    softcap: Option<f64>,
}

/// `q`: `[b, t, heads, d]`, `k`, `v`: `[b, s, kv_heads, d]` with `heads` a multiple
/// of `kv_heads`. Returns `[b, t, heads, d]`.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: &AttentionMask,
    scale: f64,
    softcap: Option<f64>,
) -> Result<Tensor> {
    let unit_stride = |x: &Tensor| -> Result<Tensor> {
        if x.stride().last() == Some(&1) {
            Ok(x.clone())
        } else {
            x.contiguous()
        }
    };
    let op = Attention {
        mask: mask.clone(),
        scale,
        softcap,
    };
    unit_stride(q)?.apply_op3(&unit_stride(k)?, &unit_stride(v)?, op)
}

/// Strides and offset of a `[b, n, heads, d]` view with unit stride on `d`.
#[derive(Clone, Copy)]
struct View {
    batch: usize,
    pos: usize,
    head: usize,
    start: usize,
}

impl View {
    fn of(layout: &Layout) -> Result<Self> {
        let s = layout.stride();
        if s.len() != 4 || s[3] != 1 {
            candle_core::bail!(
                "attention: operands must be [b, n, heads, d] with unit stride on d"
            );
        }
        Ok(Self {
            batch: s[0],
            pos: s[1],
            head: s[2],
            start: layout.start_offset(),
        })
    }

    fn at(&self, b: usize, pos: usize, head: usize) -> usize {
        self.start + b * self.batch + pos * self.pos + head * self.head
    }
}

#[derive(Clone, Copy)]
struct Geometry {
    b: usize,
    t: usize,
    s: usize,
    heads: usize,
    kv_heads: usize,
    d: usize,
    q: View,
    k: View,
    v: View,
}

impl Geometry {
    fn new(ql: &Layout, kl: &Layout, vl: &Layout) -> Result<Self> {
        let (b, t, heads, d) = ql.shape().dims4()?;
        let (kb, s, kv_heads, kd) = kl.shape().dims4()?;
        if kl.dims() != vl.dims() || kb != b || kd != d || kv_heads == 0 || heads % kv_heads != 0 {
            candle_core::bail!(
                "attention: q {:?}, k {:?}, v {:?} do not fit",
                ql.dims(),
                kl.dims(),
                vl.dims()
            );
        }
        Ok(Self {
            b,
            t,
            s,
            heads,
            kv_heads,
            d,
            q: View::of(ql)?,
            k: View::of(kl)?,
            v: View::of(vl)?,
        })
    }

    fn groups(&self) -> usize {
        self.heads / self.kv_heads
    }
}

/// Rows of queries that one matmul handles: one head's `t` queries, or, when
/// decoding a single position, all heads of a group at once.
struct Block {
    /// First head of the block, and how many query rows it has.
    head: usize,
    rows: usize,
    /// Distance between consecutive rows in the query array.
    row_stride: usize,
    /// Whether row `r` is query `r` (else every row is query 0).
    rows_are_positions: bool,
}

fn blocks(g: &Geometry, kv: usize) -> Vec<Block> {
    let groups = g.groups();
    if g.t == 1 {
        return vec![Block {
            head: kv * groups,
            rows: groups,
            row_stride: g.q.head,
            rows_are_positions: false,
        }];
    }
    (0..groups)
        .map(|i| Block {
            head: kv * groups + i,
            rows: g.t,
            row_stride: g.q.pos,
            rows_are_positions: true,
        })
        .collect()
}

/// Query rows scored together: a causal tile skips the keys after its last row, so
/// narrower tiles skip more of the `t × s` scores, while gemm needs a few dozen rows
/// to run at speed. 64 rows skip 37% of the work at 256 positions.
const TILE_ROWS: usize = 64;

/// Rows `first..first + rows` of a block.
#[derive(Clone, Copy)]
struct Tile {
    first: usize,
    rows: usize,
}

fn tiles(block: &Block) -> impl Iterator<Item = Tile> + use<> {
    let rows = block.rows;
    (0..rows).step_by(TILE_ROWS).map(move |first| Tile {
        first,
        rows: TILE_ROWS.min(rows - first),
    })
}

impl Attention {
    /// One past the last key any row of `tile` can see: later keys are causally hidden
    /// from all of them, so their scores are never computed. A row that sees no key at
    /// all (a left-padding position) keeps every key, as the composed softmax does.
    fn width(&self, g: &Geometry, row: usize, block: &Block, tile: Tile) -> usize {
        let mut width = 0;
        for r in tile.first..tile.first + tile.rows {
            let query = if block.rows_are_positions { r } else { 0 };
            let reach = (self.mask.past + query + 1).min(g.s);
            if !(0..reach).any(|key| self.mask.visible(row, g.s, query, key)) {
                return g.s;
            }
            width = width.max(reach);
        }
        width
    }

    /// Scores of the rows of `tile` against the keys before [`Self::width`], turned
    /// into probabilities in place (`probs` holds the tile's rows, `s` apart); returns
    /// that width. Fills `slope` with the soft-capping derivative when asked (backward).
    #[allow(clippy::too_many_arguments)]
    fn probabilities<T: Real>(
        &self,
        g: &Geometry,
        q: &[T],
        k: &[T],
        (row, kv): (usize, usize),
        (block, tile): (&Block, Tile),
        probs: &mut [T],
        mut slope: Option<&mut [T]>,
    ) -> usize {
        let s = g.s;
        let width = self.width(g, row, block, tile);
        let lhs = Mat::rows(
            &q[g.q.at(row, 0, block.head) + tile.first * block.row_stride..],
            block.row_stride,
        );
        let rhs = Mat {
            data: &k[g.k.at(row, 0, kv)..],
            row_stride: 1,
            col_stride: g.k.pos,
        };
        matmul((tile.rows, width, g.d), probs, s, lhs, rhs, false, false);
        let scale = T::from_f64(self.scale);
        let masked = T::from_f64(MASKED);
        let floor = T::from_f64(EXP_FLOOR);
        let valid = &self.mask.key_valid[row * s..][..width];
        for (r, p) in probs.chunks_mut(s).enumerate().take(tile.rows) {
            let query = if block.rows_are_positions {
                tile.first + r
            } else {
                0
            };
            let p = &mut p[..width];
            match self.softcap {
                None => p.iter_mut().for_each(|x| *x *= scale),
                Some(cap) => {
                    let cap = T::from_f64(cap);
                    for (j, x) in p.iter_mut().enumerate() {
                        let th = (*x * scale / cap).tanh();
                        *x = th * cap;
                        if let Some(sl) = slope.as_deref_mut() {
                            sl[r * s + j] = T::one() - th * th;
                        }
                    }
                }
            }
            // `AttentionMask::visible` over the row, as a loop that vectorises.
            let (first, last) = self.mask.reach(query);
            for (j, (x, &ok)) in p.iter_mut().zip(valid).enumerate() {
                let seen = ok == 1 && j <= last && j >= first;
                *x = if seen { *x } else { *x + masked };
            }
            let max = vectorised::max(p);
            for x in p.iter_mut() {
                let shifted = *x - max;
                *x = if shifted < floor {
                    T::zero()
                } else {
                    shifted.exp_inline()
                };
            }
            let sum = vectorised::sum(p);
            for x in p.iter_mut() {
                *x /= sum;
            }
        }
        width
    }

    /// Output rows `[groups, t, d]` of the heads of KV head `kv` in batch row `row`.
    fn forward_unit<T: Real>(
        &self,
        g: &Geometry,
        (q, k, v): (&[T], &[T], &[T]),
        (row, kv): (usize, usize),
    ) -> Vec<T> {
        let (s, d) = (g.s, g.d);
        let mut out = vec![T::zero(); g.groups() * g.t * d];
        let mut probs = Vec::new();
        for block in blocks(g, kv) {
            let first_row = (block.head - kv * g.groups()) * g.t * d;
            for tile in tiles(&block) {
                probs.resize(tile.rows * s, T::zero());
                let width =
                    self.probabilities(g, q, k, (row, kv), (&block, tile), &mut probs, None);
                let rhs = Mat::rows(&v[g.v.at(row, 0, kv)..], g.v.pos);
                matmul(
                    (tile.rows, d, width),
                    &mut out[first_row + tile.first * d..],
                    d,
                    Mat::rows(&probs[..], s),
                    rhs,
                    false,
                    false,
                );
            }
        }
        out
    }

    fn forward<T: Real>(&self, g: &Geometry, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
        let units: Vec<Vec<T>> = (0..g.b * g.kv_heads)
            .into_par_iter()
            .map(|u| self.forward_unit(g, (q, k, v), (u / g.kv_heads, u % g.kv_heads)))
            .collect();
        let (t, d, groups) = (g.t, g.d, g.groups());
        let mut out = vec![T::zero(); g.b * t * g.heads * d];
        for (u, unit) in units.iter().enumerate() {
            let (row, kv) = (u / g.kv_heads, u % g.kv_heads);
            for i in 0..groups {
                let head = kv * groups + i;
                for pos in 0..t {
                    let src = &unit[(i * t + pos) * d..][..d];
                    let at = ((row * t + pos) * g.heads + head) * d;
                    out[at..at + d].copy_from_slice(src);
                }
            }
        }
        out
    }

    /// `(dq [groups, t, d], dk [s, d], dv [s, d])` of one unit.
    fn backward_unit<T: Real>(
        &self,
        g: &Geometry,
        (q, k, v, grad): (&[T], &[T], &[T], &[T]),
        (row, kv): (usize, usize),
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (t, s, d) = (g.t, g.s, g.d);
        let go = g.heads * d;
        let mut dq = vec![T::zero(); g.groups() * t * d];
        let mut dk = vec![T::zero(); s * d];
        let mut dv = vec![T::zero(); s * d];
        let tile_len = TILE_ROWS.min(t) * s;
        let mut probs = vec![T::zero(); tile_len];
        let mut dp = vec![T::zero(); tile_len];
        let mut slope = self.softcap.map(|_| vec![T::zero(); tile_len]);
        let scale = T::from_f64(self.scale);
        let v_t = Mat {
            data: &v[g.v.at(row, 0, kv)..],
            row_stride: 1,
            col_stride: g.v.pos,
        };
        let k_rows = Mat::rows(&k[g.k.at(row, 0, kv)..], g.k.pos);
        for i in 0..g.groups() {
            let head = kv * g.groups() + i;
            let block = Block {
                head,
                rows: t,
                row_stride: g.q.pos,
                rows_are_positions: true,
            };
            for tile in tiles(&block) {
                let (first, rows) = (tile.first, tile.rows);
                let width = self.probabilities(
                    g,
                    q,
                    k,
                    (row, kv),
                    (&block, tile),
                    &mut probs,
                    slope.as_deref_mut(),
                );
                let grad_rows = Mat::rows(&grad[((row * t + first) * g.heads + head) * d..], go);
                matmul((rows, width, d), &mut dp, s, grad_rows, v_t, false, false);
                let p_t = Mat::transposed(&probs[..], s);
                matmul((width, d, rows), &mut dv, d, p_t, grad_rows, true, false);
                for (r, (p, dp)) in probs.chunks(s).zip(dp.chunks_mut(s)).enumerate().take(rows) {
                    let (p, dp) = (&p[..width], &mut dp[..width]);
                    let dot = p
                        .iter()
                        .zip(dp.iter())
                        .fold(T::zero(), |a, (&p, &g)| a + p * g);
                    for (j, (dp, &p)) in dp.iter_mut().zip(p).enumerate() {
                        let mut ds = p * (*dp - dot);
                        if let Some(sl) = slope.as_deref() {
                            ds *= sl[r * s + j];
                        }
                        *dp = ds * scale;
                    }
                }
                matmul(
                    (rows, d, width),
                    &mut dq[(i * t + first) * d..],
                    d,
                    Mat::rows(&dp[..], s),
                    k_rows,
                    false,
                    false,
                );
                let ds_t = Mat::transposed(&dp[..], s);
                let q_rows = Mat::rows(&q[g.q.at(row, first, head)..], g.q.pos);
                matmul((width, d, rows), &mut dk, d, ds_t, q_rows, true, false);
            }
        }
        (dq, dk, dv)
    }

    /// `[dq..., dk..., dv...]`, each contiguous in its operand's shape.
    fn backward<T: Real>(&self, g: &Geometry, q: &[T], k: &[T], v: &[T], grad: &[T]) -> Vec<T> {
        let units: Vec<_> = (0..g.b * g.kv_heads)
            .into_par_iter()
            .map(|u| self.backward_unit(g, (q, k, v, grad), (u / g.kv_heads, u % g.kv_heads)))
            .collect();
        let (t, s, d, groups) = (g.t, g.s, g.d, g.groups());
        let q_len = g.b * t * g.heads * d;
        let kv_len = g.b * s * g.kv_heads * d;
        let mut out = vec![T::zero(); q_len + 2 * kv_len];
        let (dq_all, rest) = out.split_at_mut(q_len);
        let (dk_all, dv_all) = rest.split_at_mut(kv_len);
        for (u, (dq, dk, dv)) in units.iter().enumerate() {
            let (row, kv) = (u / g.kv_heads, u % g.kv_heads);
            for i in 0..groups {
                let head = kv * groups + i;
                for pos in 0..t {
                    let at = ((row * t + pos) * g.heads + head) * d;
                    dq_all[at..at + d].copy_from_slice(&dq[(i * t + pos) * d..][..d]);
                }
            }
            for pos in 0..s {
                let at = ((row * s + pos) * g.kv_heads + kv) * d;
                dk_all[at..at + d].copy_from_slice(&dk[pos * d..][..d]);
                dv_all[at..at + d].copy_from_slice(&dv[pos * d..][..d]);
            }
        }
        out
    }
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(ql, kl, vl)?;
        if self.mask.key_valid.len() != g.b * g.s || self.mask.past + g.t > g.s {
            candle_core::bail!(
                "attention: mask of {} keys (past {}) for {} rows of {} keys, {} queries",
                self.mask.key_valid.len(),
                self.mask.past,
                g.b,
                g.s,
                g.t
            );
        }
        let out = dispatch!(qs, self.name(), |T| {
            let q = T::cpu_storage_as_slice(qs)?;
            let k = T::cpu_storage_as_slice(ks)?;
            let v = T::cpu_storage_as_slice(vs)?;
            T::to_cpu_storage_owned(self.forward(&g, q, k, v))
        });
        Ok((out, Shape::from((g.b, g.t, g.heads, g.d))))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let back = Backward {
            fwd: self.clone(),
            grad: grad.contiguous()?,
        };
        let flat = q.apply_op3_no_bwd(k, v, &back)?;
        let parts = split(&flat, &[q.dims(), k.dims(), v.dims()])?;
        Ok((
            q.track_op().then(|| parts[0].clone()),
            k.track_op().then(|| parts[1].clone()),
            v.track_op().then(|| parts[2].clone()),
        ))
    }
}

/// `(q, k, v) -> [dq, dk, dv]` for the gradient `grad` of the output.
struct Backward {
    fwd: Attention,
    grad: Tensor,
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "fused-attention-backward"
    }

    fn cpu_fwd(
        &self,
        qs: &CpuStorage,
        ql: &Layout,
        ks: &CpuStorage,
        kl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = Geometry::new(ql, kl, vl)?;
        let len = ql.shape().elem_count() + 2 * kl.shape().elem_count();
        let out = with_cpu(&self.grad, self.name(), |gs, gl| {
            Ok(dispatch!(qs, self.name(), |T| {
                let q = T::cpu_storage_as_slice(qs)?;
                let k = T::cpu_storage_as_slice(ks)?;
                let v = T::cpu_storage_as_slice(vs)?;
                let grad = contiguous::<T>(gs, gl, self.name())?;
                T::to_cpu_storage_owned(self.fwd.backward(&g, q, k, v, grad))
            }))
        })?;
        Ok((out, Shape::from(len)))
    }
}
