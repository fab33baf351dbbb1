//! The teacher cache: one row per teacher answer, so distillation is resumable and a
//! rerun pays only for calls it never finished.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store, now_ms};

/// A teacher answer as the cache keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedCompletion {
    pub text: String,
    pub finish_reason: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub latency_ms: u64,
}

impl Store {
    /// The cached answer under `key`, if any.
    pub fn cached_completion(&self, key: &str) -> Result<Option<CachedCompletion>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens, latency_ms
             FROM teacher_cache WHERE key = ?1",
        )?;
        Ok(stmt
            .query_row([key], |row| {
                Ok(CachedCompletion {
                    text: row.get(0)?,
                    finish_reason: row.get(1)?,
                    prompt_tokens: row.get(2)?,
                    completion_tokens: row.get(3)?,
                    latency_ms: row.get(4)?,
                })
            })
            .optional()?)
    }

    /// Stores an answer. The first answer stored under a key wins: two jobs racing on
    /// the same call keep one consistent answer rather than the last writer's.
    pub fn put_cached_completion(
        &mut self,
        key: &str,
        model: &str,
        completion: &CachedCompletion,
    ) -> Result<bool> {
        let tx = self.write()?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO teacher_cache (key, model, text, finish_reason,
                prompt_tokens, completion_tokens, latency_ms, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                key,
                model,
                completion.text,
                completion.finish_reason,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.latency_ms,
                now_ms(),
            ],
        )?;
        tx.commit()?;
        Ok(inserted == 1)
    }

    /// How many answers the cache holds.
    pub fn teacher_cache_len(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM teacher_cache", [], |row| row.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_under_a_key_wins_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plantune.db");
        let answer = |text: &str| CachedCompletion {
            text: text.into(),
            finish_reason: Some("stop".into()),
            prompt_tokens: 12,
            completion_tokens: 34,
            latency_ms: 56,
        };
        {
            let mut store = Store::open(&path).unwrap();
            assert_eq!(store.cached_completion("k").unwrap(), None);
            assert!(
                store
                    .put_cached_completion("k", "m", &answer("first"))
                    .unwrap()
            );
            assert!(
                !store
                    .put_cached_completion("k", "m", &answer("second"))
                    .unwrap()
            );
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.cached_completion("k").unwrap(), Some(answer("first")));
        assert_eq!(store.teacher_cache_len().unwrap(), 1);
    }
}
