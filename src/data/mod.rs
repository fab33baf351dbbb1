//! Dataset readers (GSM8K, MATH, OlympiadBench, AIME, generic JSONL/JSON/Parquet)
//! and the synthetic task domain.
