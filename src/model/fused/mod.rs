//! Fused differentiable ops: candle custom ops with a hand-written backward.
//!
//! Composed from primitives, each of these is a chain of allocating passes, and
//! candle's backward adds a zero tensor and an add per graph edge; here each is one
//! node with one or two passes each way. They run on the CPU for f32 and f64
//! ([`applies`]); elsewhere (CUDA, half precision) the decoder takes the composed ops
//! of [`super::ops`], which stay the reference the tests compare against.

pub mod attention;
pub mod frozen_linear;
pub mod glu;
pub mod linear;
pub mod lm_head_loss;
pub mod lora_linear;
pub mod rms_norm;
pub mod rope;
pub mod vectorised;

use candle_core::{CpuStorage, DType, Layout, Result, Tensor, WithDType};

/// The float types the fused kernels are written for.
pub trait Real: WithDType + num_traits::Float + Send + Sync {
    /// `exp`, inlined where it can be so that loops of it vectorise.
    fn exp_inline(self) -> Self;
}

impl Real for f32 {
    #[inline(always)]
    fn exp_inline(self) -> f32 {
        vectorised::exp_f32(self)
    }
}

impl Real for f64 {
    /// libm's: the f64 paths are the finite-difference references, kept exact.
    #[inline(always)]
    fn exp_inline(self) -> f64 {
        self.exp()
    }
}

/// Whether the fused kernels can run on `x`: CPU tensors of f32 or f64.
pub fn applies(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// The contiguous elements of `layout` in `storage`.
pub(crate) fn contiguous<'a, T: Real>(
    storage: &'a CpuStorage,
    layout: &Layout,
    what: &str,
) -> Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(storage)?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{what}: input must be contiguous"),
    }
}

/// A row-major matrix view for [`matmul`]: element `(i, j)` is
/// `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a, T> {
    pub data: &'a [T],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> Mat<'a, T> {
    pub fn rows(data: &'a [T], row_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix whose rows are `row_stride` apart.
    pub fn transposed(data: &'a [T], row_stride: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: row_stride,
        }
    }

    fn fits(&self, rows: usize, cols: usize) -> bool {
        rows == 0
            || cols == 0
            || (rows - 1) * self.row_stride + (cols - 1) * self.col_stride < self.data.len()
    }
}

/// Threads for the kernels: rayon's pool size, as candle's own matmul uses.
pub(crate) fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`), `lhs` `[m, k]`,
/// `rhs` `[k, n]`, `dst` `[m, n]` with rows `dst_stride` apart. `parallel` lets gemm
/// use rayon's pool; kernels that already split their work over the pool pass false.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    (m, n, k): (usize, usize, usize),
    dst: &mut [T],
    dst_stride: usize,
    lhs: Mat<T>,
    rhs: Mat<T>,
    accumulate: bool,
    parallel: bool,
) {
    assert!(
        lhs.fits(m, k) && rhs.fits(k, n),
        "matmul operand out of bounds"
    );
    assert!(
        m == 0 || n == 0 || (m - 1) * dst_stride + n <= dst.len(),
        "matmul destination out of bounds"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_stride).take(m) {
                row[..n].fill(T::zero());
            }
        }
        return;
    }
    let n_threads = threads();
    let parallelism = if parallel && n_threads > 1 {
        gemm::Parallelism::Rayon(n_threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the asserts above keep every index gemm touches inside the slices:
    // the largest offsets are (m-1)·rs + (k-1)·cs for lhs, (k-1)·rs + (n-1)·cs for
    // rhs and (m-1)·dst_stride + n-1 for dst, and `dst` is borrowed mutably.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_stride as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Splits a flat tensor (one op's several outputs laid end to end) into tensors of
/// the given shapes, as views without copies.
pub(crate) fn split(flat: &Tensor, shapes: &[&[usize]]) -> Result<Vec<Tensor>> {
    let mut offset = 0;
    let mut parts = Vec::with_capacity(shapes.len());
    for shape in shapes {
        let len: usize = shape.iter().product();
        parts.push(flat.narrow(0, offset, len)?.reshape(*shape)?);
        offset += len;
    }
    Ok(parts)
}

/// The storage of a CPU tensor for a kernel that reads a tensor it holds (not an
/// argument of the op), e.g. a frozen weight or an output gradient.
pub(crate) fn with_cpu<R>(
    t: &Tensor,
    what: &str,
    f: impl FnOnce(&CpuStorage, &Layout) -> Result<R>,
) -> Result<R> {
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => f(cpu, layout),
        _ => candle_core::bail!("{what}: tensor is not on the CPU"),
    }
}

/// Applies `f` to the f32 or f64 slice of `storage`, rewrapping the result.
macro_rules! dispatch {
    ($storage:expr, $name:expr, |$t:ident| $body:expr) => {
        match $storage {
            candle_core::CpuStorage::F32(_) => {
                #[allow(unused_imports)]
                use candle_core::WithDType as _;
                type $t = f32;
                $body
            }
            candle_core::CpuStorage::F64(_) => {
                #[allow(unused_imports)]
                use candle_core::WithDType as _;
                type $t = f64;
                $body
            }
            other => {
                use candle_core::backend::BackendStorage as _;
                candle_core::bail!("{}: unsupported dtype {:?}", $name, other.dtype())
            }
        }
    };
}
pub(crate) use dispatch;

/// Which implementation of the differentiable ops a model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kernels {
    /// The fused ops wherever [`applies`] (CPU, f32/f64), the composed ones elsewhere.
    #[default]
    Fused,
    /// Always the composed ops: the reference the fused ones are checked against.
    Composed,
}

impl Kernels {
    /// Whether the fused kernels run for an activation like `x`.
    pub fn fused_for(self, x: &Tensor) -> bool {
        self == Kernels::Fused && applies(x)
    }
}
