//! Keys and values of earlier positions for generation, written in place into
//! buffers allocated once per batch (grown by doubling if a caller under-estimates),
//! instead of a new concatenation of the whole history every step.

use candle_core::{Result, Tensor};

/// Keys and values of earlier steps, plus which of those positions are real tokens.
///
/// Create one per generation batch with [`crate::model::decoder::Model::new_cache`];
/// pass it to every [`crate::model::decoder::Model::forward`] call of that batch (the
/// prompt first, then one or more tokens per step). The batch size must stay the
/// same for the cache's lifetime.
#[derive(Debug, Clone)]
pub struct KvCache {
    pub(crate) layers: Vec<Option<LayerCache>>,
    /// Per row, 1 for a real token and 0 for padding, over all cached positions.
    pub(crate) key_valid: Vec<Vec<u8>>,
    /// Per row, the number of real tokens seen so far (the next rotary position).
    pub(crate) real_counts: Vec<u32>,
    /// Positions to allocate room for at the first write.
    capacity: usize,
}

/// One layer's buffers `[b, capacity, kv_heads, d]`; positions `..len` are filled.
#[derive(Debug, Clone)]
pub(crate) struct LayerCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        Self::with_capacity(num_layers, 0)
    }

    /// A cache that allocates room for `positions` (prompt plus new tokens) at once.
    pub fn with_capacity(num_layers: usize, positions: usize) -> Self {
        Self {
            layers: vec![None; num_layers],
            key_valid: Vec::new(),
            real_counts: Vec::new(),
            capacity: positions,
        }
    }

    /// Number of cached positions (padding included).
    pub fn seq_len(&self) -> usize {
        self.key_valid.first().map_or(0, Vec::len)
    }

    pub fn reset(&mut self) {
        let (n, capacity) = (self.layers.len(), self.capacity);
        *self = Self::with_capacity(n, capacity);
    }

    pub(crate) fn capacity_hint(&self) -> usize {
        self.capacity
    }
}

impl LayerCache {
    /// Appends `k`, `v` (`[b, t, kv_heads, d]`, detached) to `slot` and returns views
    /// of every cached position, `[b, len, kv_heads, d]`.
    pub(crate) fn append(
        slot: &mut Option<LayerCache>,
        k: &Tensor,
        v: &Tensor,
        capacity_hint: usize,
    ) -> Result<(Tensor, Tensor)> {
        let (b, t, heads, d) = k.dims4()?;
        let needed = slot.as_ref().map_or(0, |c| c.len) + t;
        let fresh = |cap: usize| -> Result<(Tensor, Tensor)> {
            let k = Tensor::zeros((b, cap, heads, d), k.dtype(), k.device())?;
            let v = Tensor::zeros((b, cap, heads, d), v.dtype(), v.device())?;
            Ok((k, v))
        };
        match slot {
            None => {
                let (kb, vb) = fresh(needed.max(capacity_hint))?;
                *slot = Some(LayerCache {
                    k: kb,
                    v: vb,
                    len: 0,
                });
            }
            Some(c) if needed > c.k.dim(1)? => {
                let (kb, vb) = fresh(needed.max(2 * c.k.dim(1)?))?;
                kb.slice_set(&c.k.narrow(1, 0, c.len)?.contiguous()?, 1, 0)?;
                vb.slice_set(&c.v.narrow(1, 0, c.len)?.contiguous()?, 1, 0)?;
                c.k = kb;
                c.v = vb;
            }
            Some(_) => {}
        }
        let Some(c) = slot.as_mut() else {
            candle_core::bail!("kv cache: layer buffer missing after allocation");
        };
        c.k.slice_set(&k.contiguous()?, 1, c.len)?;
        c.v.slice_set(&v.contiguous()?, 1, c.len)?;
        c.len += t;
        Ok((c.k.narrow(1, 0, c.len)?, c.v.narrow(1, 0, c.len)?))
    }
}
