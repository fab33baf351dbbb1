//! `x · wᵀ` for a handful of rows (a decode step) against a large weight, split over
//! the weight's output rows across the thread pool. gemm runs a product with so few
//! rows on one thread, and such a product is bound by reading the weight from memory,
//! which several cores do faster than one: without the split, decoding one sequence
//! gains nothing from a second thread.

use candle_core::{DType, Result, Storage, Tensor};
use rayon::prelude::*;

/// Above this many rows gemm's own threading already splits the work.
const MAX_ROWS: usize = 16;
/// Below this many output columns per thread the split costs more than it saves.
const MIN_COLS_PER_THREAD: usize = 256;

/// The product when the split applies (CPU, f32, contiguous, no gradient wanted, a
/// pool of two threads or more), `None` otherwise so the caller takes candle's matmul.
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    let threads = candle_core::utils::get_num_threads().min(rayon::current_num_threads());
    let plain = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.rank() == 2;
    if threads < 2 || !plain(x) || !plain(w) || x.track_op() {
        return Ok(None);
    }
    let (rows, inner) = x.dims2()?;
    let (cols, w_inner) = w.dims2()?;
    if rows > MAX_ROWS || inner != w_inner || cols < threads * MIN_COLS_PER_THREAD {
        return Ok(None);
    }
    let (x_storage, x_layout) = x.storage_and_layout();
    let (w_storage, w_layout) = w.storage_and_layout();
    let (Storage::Cpu(x_cpu), Storage::Cpu(w_cpu)) = (&*x_storage, &*w_storage) else {
        return Ok(None);
    };
    let (Some((x0, x1)), Some((w0, w1))) =
        (x_layout.contiguous_offsets(), w_layout.contiguous_offsets())
    else {
        return Ok(None);
    };
    let xs = &x_cpu.as_slice::<f32>()?[x0..x1];
    let ws = &w_cpu.as_slice::<f32>()?[w0..w1];
    let out = split_product(xs, ws, rows, inner, threads);
    Tensor::from_vec(out, (rows, cols), x.device()).map(Some)
}

/// `x · wᵀ` with `w`'s rows dealt out to `threads` tasks, each a single-threaded gemm.
fn split_product(x: &[f32], w: &[f32], rows: usize, inner: usize, threads: usize) -> Vec<f32> {
    let cols = w.len() / inner;
    let chunk = cols.div_ceil(threads);
    let parts: Vec<(usize, Vec<f32>)> = (0..cols)
        .step_by(chunk)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let end = (start + chunk).min(cols);
            (
                start,
                product(x, &w[start * inner..end * inner], rows, inner),
            )
        })
        .collect();
    let mut out = vec![0f32; rows * cols];
    for (start, part) in parts {
        let width = part.len() / rows;
        for (row, values) in part.chunks_exact(width).enumerate() {
            out[row * cols + start..row * cols + start + width].copy_from_slice(values);
        }
    }
    out
}

/// `x · wᵀ` on one thread, `x` `[rows, inner]` and `w` `[width, inner]`, row-major.
fn product(x: &[f32], w: &[f32], rows: usize, inner: usize) -> Vec<f32> {
    let width = w.len() / inner;
    let mut out = vec![0f32; rows * width];
    // SAFETY: the strides describe exactly the buffers given: `x` holds rows × inner,
    // `w` width × inner (read as its transpose: column stride inner, row stride 1),
    // `out` rows × width; gemm reads and writes nothing outside them.
    unsafe {
        gemm::gemm(
            rows,
            width,
            inner,
            out.as_mut_ptr(),
            1,
            width as isize,
            false,
            x.as_ptr(),
            1,
            inner as isize,
            w.as_ptr(),
            inner as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_product_equals_the_plain_product() {
        let (rows, inner, cols) = (3, 37, 1003);
        let x: Vec<f32> = (0..rows * inner)
            .map(|i| ((i * 7) % 11) as f32 - 5.0)
            .collect();
        let w: Vec<f32> = (0..cols * inner)
            .map(|i| ((i * 5) % 13) as f32 * 0.1)
            .collect();
        let expected: Vec<f32> = (0..rows * cols)
            .map(|o| {
                let (r, c) = (o / cols, o % cols);
                (0..inner)
                    .map(|i| x[r * inner + i] * w[c * inner + i])
                    .sum()
            })
            .collect();
        // 1003 columns over 2 and 3 tasks: the last chunk is narrower than the others.
        for threads in [1, 2, 3] {
            let got = split_product(&x, &w, rows, inner, threads);
            let worst = got
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-5,
                "{threads} tasks: worst relative error {worst}"
            );
        }
    }
}
