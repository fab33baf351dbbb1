//! `x · wᵀ` for a handful of rows (a decode step) against a large weight. candle hands
//! such a product to gemm as `(w · xᵀ)ᵀ`, which makes gemm repack the whole weight,
//! element by element, on every call: half of a decode step's time went there. Called
//! as `x · wᵀ` with the weight read in place, gemm packs only the few rows of `x`.
//! With two threads or more the weight's output rows are also split over the pool,
//! since gemm runs a product with so few rows on one thread and such a product is
//! bound by reading the weight from memory, which several cores do faster than one.

use candle_core::{DType, Result, Storage, Tensor};
use rayon::prelude::*;

/// Up to one block of gemm's widest microkernel (4 × 16 rows of f32 with AVX-512): the
/// weight is then streamed once. Above it the product is no longer a decode step.
const MAX_ROWS: usize = 64;
/// Below this many output columns per thread the split costs more than it saves.
const MIN_COLS_PER_THREAD: usize = 256;

/// The product when this path applies (CPU, f32, contiguous, no gradient wanted),
/// `None` otherwise so the caller takes candle's matmul.
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> Result<Option<Tensor>> {
    let threads = candle_core::utils::get_num_threads()
        .min(rayon::current_num_threads())
        .max(1);
    let plain = |t: &Tensor| t.device().is_cpu() && t.dtype() == DType::F32 && t.rank() == 2;
    if !plain(x) || !plain(w) || x.track_op() || w.track_op() {
        return Ok(None);
    }
    let (rows, inner) = x.dims2()?;
    let (cols, w_inner) = w.dims2()?;
    if rows > MAX_ROWS || inner != w_inner || cols == 0 || inner == 0 {
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
    let out = if threads >= 2 && cols >= threads * MIN_COLS_PER_THREAD {
        split_product(xs, ws, rows, inner, threads)
    } else {
        product(xs, ws, rows, inner)
    };
    Tensor::from_vec(out, (rows, cols), x.device()).map(Some)
}

/// `x · wᵀ` with `w`'s rows dealt out to `threads` tasks, each a single-threaded gemm
/// writing its own columns of the column-major result.
fn split_product(x: &[f32], w: &[f32], rows: usize, inner: usize, threads: usize) -> Vec<f32> {
    let cols = w.len() / inner;
    let chunk = cols.div_ceil(threads);
    let mut by_column = vec![0f32; rows * cols];
    by_column
        .par_chunks_mut(chunk * rows)
        .zip(w.par_chunks(chunk * inner))
        .for_each(|(dst, w)| product_by_column(x, w, rows, inner, dst));
    turn(&by_column, rows, cols)
}

/// `x · wᵀ` on one thread, `x` `[rows, inner]` and `w` `[width, inner]`, row-major.
fn product(x: &[f32], w: &[f32], rows: usize, inner: usize) -> Vec<f32> {
    let width = w.len() / inner;
    let mut by_column = vec![0f32; rows * width];
    product_by_column(x, w, rows, inner, &mut by_column);
    turn(&by_column, rows, width)
}

/// `x · wᵀ` into `dst` column-major (`[width, rows]` in memory). gemm transposes a
/// problem whose destination is row-major, which would put the weight on the side it
/// packs; written this way it packs only the few rows of `x`.
fn product_by_column(x: &[f32], w: &[f32], rows: usize, inner: usize, dst: &mut [f32]) {
    let width = w.len() / inner;
    assert_eq!(dst.len(), rows * width, "destination of {rows} × {width}");
    // SAFETY: the strides describe exactly the buffers given: `x` holds rows × inner
    // (row stride inner, column stride 1), `w` width × inner read as its transpose
    // (row stride 1, column stride inner), `dst` rows × width with row stride 1 and
    // column stride rows (its length is checked above); gemm reads and writes nothing
    // outside them.
    unsafe {
        gemm::gemm(
            rows,
            width,
            inner,
            dst.as_mut_ptr(),
            rows as isize,
            1,
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
}

/// The row-major `[rows, cols]` copy of a column-major result.
fn turn(by_column: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; rows * cols];
    for (col, values) in by_column.chunks_exact(rows).enumerate() {
        for (row, &v) in values.iter().enumerate() {
            out[row * cols + col] = v;
        }
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

    /// The column-major write and the turn afterwards, at the row counts decoding
    /// uses, against candle's own product; and the cases the path must leave alone.
    #[test]
    fn decode_products_equal_candles_matmul() {
        let device = candle_core::Device::Cpu;
        let (inner, cols) = (45, 301);
        let w = Tensor::arange(0u32, (cols * inner) as u32, &device)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
            .affine(1.0 / (cols * inner) as f64, -0.5)
            .unwrap()
            .sin()
            .unwrap()
            .reshape((cols, inner))
            .unwrap();
        for rows in [1, 2, 7, 32, MAX_ROWS] {
            let x = Tensor::arange(0u32, (rows * inner) as u32, &device)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .affine(0.37, 0.0)
                .unwrap()
                .cos()
                .unwrap()
                .reshape((rows, inner))
                .unwrap();
            let expected = x.matmul(&w.t().unwrap()).unwrap();
            let got = matmul_t(&x, &w).unwrap().expect("a decode-sized product");
            let worst = (got - &expected)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(worst < 1e-5, "{rows} rows: worst error {worst}");
        }
        let tall = Tensor::zeros((MAX_ROWS + 1, inner), DType::F32, &device).unwrap();
        assert!(matmul_t(&tall, &w).unwrap().is_none());
        let tracked = candle_core::Var::zeros((2, inner), DType::F32, &device).unwrap();
        assert!(matmul_t(tracked.as_tensor(), &w).unwrap().is_none());
    }
}
