//! SentencePiece-style GGUF vocabularies (`tokenizer.ggml.model = "llama"`, used by
//! Gemma and the original Llama) rebuilt as a Hugging Face BPE tokenizer.
//!
//! Such a GGUF has pieces and scores but no merge list. SentencePiece's BPE repeatedly
//! joins the adjacent pair whose joined piece scores highest, so ranking every split of
//! every piece by that piece's score gives a merge list that tokenizes the same way.

use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::BPE;
use tokenizers::normalizers::Sequence as NormalizerSequence;
use tokenizers::normalizers::prepend::Prepend;
use tokenizers::normalizers::replace::Replace;
use tokenizers::{DecoderWrapper, NormalizerWrapper, Tokenizer};

use super::{TokenizerError, vocab_by_id};

/// GGUF token type of ordinary pieces; only these take part in merges.
const TOKEN_TYPE_NORMAL: i64 = 1;

/// SentencePiece's visible stand-in for a space.
const SPACE_MARK: &str = "\u{2581}";

/// Every `(left, right)` split of a normal piece whose halves are normal pieces too,
/// highest-scoring joined piece first (ties keep vocabulary order, as the reference
/// converter does).
pub fn merges_from_scores(
    tokens: &[String],
    scores: &[f32],
    token_types: &[i64],
) -> Vec<(String, String)> {
    let normal: HashMap<&str, usize> = tokens
        .iter()
        .enumerate()
        .filter(|(id, _)| token_types.get(*id) == Some(&TOKEN_TYPE_NORMAL))
        .map(|(id, piece)| (piece.as_str(), id))
        .collect();
    let mut ranked: Vec<(f32, usize, usize, usize)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if token_types.get(id) != Some(&TOKEN_TYPE_NORMAL) {
            continue;
        }
        for (at, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(at);
            if let (Some(&l), Some(&r)) = (normal.get(left), normal.get(right)) {
                ranked.push((scores.get(id).copied().unwrap_or(f32::MIN), id, l, r));
            }
        }
    }
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(a.2.cmp(&b.2))
            .then(a.3.cmp(&b.3))
    });
    ranked
        .into_iter()
        .map(|(_, _, l, r)| (tokens[l].clone(), tokens[r].clone()))
        .collect()
}

/// The BPE model, normalizer and decoder of a SentencePiece vocabulary: spaces become
/// `▁` before merging, characters outside the vocabulary fall back to `<0xNN>` byte
/// pieces, and decoding undoes both. `add_space_prefix` mirrors the GGUF flag of the
/// same name (SentencePiece's "add dummy prefix").
pub fn spm_tokenizer(
    tokens: &[String],
    scores: &[f32],
    token_types: &[i64],
    unk: Option<&str>,
    add_space_prefix: bool,
) -> Result<Tokenizer, TokenizerError> {
    let vocab = vocab_by_id(tokens)?;
    let merges = merges_from_scores(tokens, scores, token_types);
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unk) = unk {
        builder = builder.unk_token(unk.to_string());
    }
    let bpe = builder
        .build()
        .map_err(|e| TokenizerError::Build(e.to_string()))?;

    let build = |e: Box<dyn std::error::Error + Send + Sync>| TokenizerError::Build(e.to_string());
    let to_mark = Replace::new(" ", SPACE_MARK).map_err(build)?;
    let mut tokenizer = Tokenizer::new(bpe);
    let normalizer: NormalizerWrapper = if add_space_prefix {
        let prepend = Prepend::new(SPACE_MARK.to_string());
        NormalizerSequence::new(vec![prepend.into(), to_mark.into()]).into()
    } else {
        to_mark.into()
    };
    tokenizer
        .with_normalizer(Some(normalizer))
        .map_err(|e| TokenizerError::Build(e.to_string()))?;
    let from_mark: DecoderWrapper = Replace::new(SPACE_MARK, " ").map_err(build)?.into();
    let mut decoders = vec![
        from_mark,
        ByteFallback::default().into(),
        Fuse::new().into(),
    ];
    if add_space_prefix {
        decoders.push(Strip::new(' ', 1, 0).into());
    }
    tokenizer.with_decoder(Some(DecoderSequence::new(decoders)));
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> (Vec<String>, Vec<f32>, Vec<i64>) {
        let mut tokens: Vec<String> = ["<pad>", "<eos>", "<bos>", "<unk>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut types = vec![3, 3, 3, 3];
        let mut scores = vec![-1000.0; 4];
        for b in 0u8..=255 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        // Joined pieces score by how early SentencePiece learned them; single
        // characters come last, as in real vocabularies.
        for (piece, score) in [
            ("▁t", -1.0),
            ("he", -2.0),
            ("▁the", -3.0),
            ("▁th", -4.0),
            ("▁c", -5.0),
            ("at", -6.0),
            ("▁cat", -7.0),
            ("▁", -10.0),
            ("t", -11.0),
            ("h", -12.0),
            ("e", -13.0),
            ("c", -14.0),
            ("a", -15.0),
        ] {
            tokens.push(piece.to_string());
            types.push(1);
            scores.push(score);
        }
        (tokens, scores, types)
    }

    #[test]
    fn merges_follow_the_score_of_the_joined_piece() {
        let (tokens, scores, types) = vocab();
        let merges = merges_from_scores(&tokens, &scores, &types);
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        assert_eq!(pairs[0], ("▁", "t"));
        assert_eq!(pairs[1], ("h", "e"));
        assert!(pairs.contains(&("▁t", "he")) && pairs.contains(&("▁th", "e")));
        assert!(
            !pairs
                .iter()
                .any(|(l, r)| l.starts_with("<0x") || r.starts_with("<0x")),
            "byte pieces never merge"
        );
    }

    #[test]
    fn encodes_with_space_marks_and_byte_fallback_and_decodes_back() {
        let (tokens, scores, types) = vocab();
        let tok = spm_tokenizer(&tokens, &scores, &types, Some("<unk>"), false).expect("build");
        let enc = tok.encode(" the cat", false).expect("encode");
        let pieces: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
        assert_eq!(pieces, ["▁the", "▁cat"]);
        let enc = tok.encode("cat é", false).expect("encode");
        let pieces: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
        assert_eq!(pieces, ["c", "at", "▁", "<0xC3>", "<0xA9>"]);
        let ids = enc.get_ids().to_vec();
        assert_eq!(tok.decode(&ids, false).expect("decode"), "cat é");
    }

    #[test]
    fn space_prefix_is_added_and_stripped_again() {
        let (tokens, scores, types) = vocab();
        let tok = spm_tokenizer(&tokens, &scores, &types, Some("<unk>"), true).expect("build");
        let enc = tok.encode("the cat", false).expect("encode");
        let pieces: Vec<&str> = enc.get_tokens().iter().map(String::as_str).collect();
        assert_eq!(pieces, ["▁the", "▁cat"]);
        let ids = enc.get_ids().to_vec();
        assert_eq!(tok.decode(&ids, false).expect("decode"), "the cat");
    }
}
