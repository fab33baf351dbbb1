//! GPU readings through NVML. `libnvidia-ml.so.1` comes with the NVIDIA driver and is
//! opened at run time, so nothing links against it: where it is absent (or the driver is
//! not running) there are simply no GPUs, with no error and nothing logged.
//!
//! Which GPUs: all that NVML sees, unless `CUDA_VISIBLE_DEVICES` is set, then only the
//! indices it lists (see [`visible_indices`]). Reported indices are NVML's.

use std::ffi::OsStr;

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::TemperatureSensor;

use crate::runlog::GpuStats;

const MIB: f64 = 1024.0 * 1024.0;

/// The GPUs to sample; empty when NVML cannot be loaded.
pub struct Gpus {
    nvml: Option<Nvml>,
    indices: Vec<u32>,
}

impl Gpus {
    /// Loads NVML from the driver's usual library name.
    pub fn open() -> Self {
        Self::with(Nvml::init().ok())
    }

    /// Loads NVML from a given library path (tests; unusual installs).
    pub fn open_library(path: &OsStr) -> Self {
        Self::with(Nvml::builder().lib_path(path).init().ok())
    }

    fn with(nvml: Option<Nvml>) -> Self {
        let indices = nvml.as_ref().map_or_else(Vec::new, |nvml| {
            let count = nvml.device_count().unwrap_or(0);
            let env = std::env::var("CUDA_VISIBLE_DEVICES").ok();
            visible_indices(count, env.as_deref())
        });
        Self { nvml, indices }
    }

    /// Whether NVML was loaded (a machine with a driver, even with no GPUs visible).
    pub fn is_loaded(&self) -> bool {
        self.nvml.is_some()
    }

    /// One reading per GPU. Any NVML call that fails leaves its field `None` (a GPU
    /// whose handle cannot be had at all is reported with only its index).
    pub fn read(&self) -> Vec<GpuStats> {
        let Some(nvml) = &self.nvml else {
            return Vec::new();
        };
        self.indices
            .iter()
            .map(|&index| {
                let mut stats = GpuStats {
                    index,
                    ..GpuStats::default()
                };
                if let Ok(device) = nvml.device_by_index(index) {
                    stats.name = device.name().unwrap_or_default();
                    stats.utilisation_pct =
                        device.utilization_rates().ok().map(|u| f64::from(u.gpu));
                    if let Ok(memory) = device.memory_info() {
                        stats.memory_used_mib = Some(memory.used as f64 / MIB);
                        stats.memory_total_mib = Some(memory.total as f64 / MIB);
                    }
                    stats.temperature_c = device
                        .temperature(TemperatureSensor::Gpu)
                        .ok()
                        .map(f64::from);
                    // NVML reports milliwatts.
                    stats.power_w = device.power_usage().ok().map(|mw| f64::from(mw) / 1000.0);
                }
                stats
            })
            .collect()
    }
}

/// The NVML indices to report out of `count`, given `CUDA_VISIBLE_DEVICES`.
///
/// Unset: all. Set, read the way CUDA reads it: the listed indices up to the first entry
/// that is not a valid index (or repeats one), so `""` or `-1` means none. A list of
/// `GPU-…`/`MIG-…` UUIDs reports all GPUs (matching UUIDs is not worth it here). NVML
/// numbers GPUs in PCI bus order and CUDA, unless `CUDA_DEVICE_ORDER=PCI_BUS_ID`, fastest
/// first, so on a machine with mixed GPU models an index may name a different card.
pub fn visible_indices(count: u32, cuda_visible_devices: Option<&str>) -> Vec<u32> {
    let Some(list) = cuda_visible_devices else {
        return (0..count).collect();
    };
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    let is_uuid = |e: &str| e.starts_with("GPU-") || e.starts_with("MIG-");
    if entries.first().is_some_and(|e| is_uuid(e)) {
        return (0..count).collect();
    }
    let mut indices = Vec::new();
    for entry in entries {
        match entry.parse::<u32>() {
            Ok(index) if index < count && !indices.contains(&index) => indices.push(index),
            _ => break,
        }
    }
    indices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_nvml_library_means_no_gpus_and_no_error() {
        let gpus = Gpus::open_library(OsStr::new("/nonexistent/libnvidia-ml.so.1"));
        assert!(!gpus.is_loaded());
        assert_eq!(gpus.read(), Vec::new());
    }

    #[test]
    fn this_machine_enumerates_without_error() {
        let gpus = Gpus::open();
        let read = gpus.read();
        if gpus.is_loaded() {
            // A machine with a driver: every visible GPU reads, with an index and a name.
            assert!(read.iter().all(|g| !g.name.is_empty()), "{read:?}");
        } else {
            // The GPU-less build machine.
            assert_eq!(read, Vec::new());
        }
    }

    #[test]
    fn cuda_visible_devices_restricts_like_cuda() {
        assert_eq!(visible_indices(4, None), vec![0, 1, 2, 3]);
        assert_eq!(visible_indices(4, Some("2,0")), vec![2, 0]);
        assert_eq!(visible_indices(4, Some(" 1 , 3")), vec![1, 3]);
        assert_eq!(visible_indices(4, Some("")), Vec::<u32>::new());
        assert_eq!(visible_indices(4, Some("-1")), Vec::<u32>::new());
        // CUDA stops at the first invalid entry.
        assert_eq!(visible_indices(2, Some("0,5,1")), vec![0]);
        assert_eq!(visible_indices(2, Some("1,1,0")), vec![1]);
        assert_eq!(
            visible_indices(2, Some("GPU-8f1c2d3e-0000-0000-0000-000000000000")),
            vec![0, 1]
        );
        assert_eq!(visible_indices(0, None), Vec::<u32>::new());
    }
}
