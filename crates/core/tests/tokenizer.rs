//! CLIP tokenizer golden ids (tests/reference/make_tokenizer_golden.py, Hugging Face tokenizers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

mod util;

use photo_search_core::models::Padding;
use photo_search_core::text::ClipTokenizer;

#[test]
fn token_ids_match_the_golden_file() {
    let golden: serde_json::Value =
        serde_json::from_slice(&std::fs::read(util::repo().join("tests/reference/tokenizer_golden.json")).unwrap())
            .unwrap();
    let tokenizer =
        ClipTokenizer::from_file(&util::repo().join("models/clip-vit-base-patch32/tokenizer.json"), 77, 49407).unwrap();
    let cases = golden.as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tokenizer.ids(text).unwrap(), expected, "{text:?}");
    }
}

#[test]
fn long_text_is_truncated_to_77_keeping_eos_last_and_short_text_is_padded() {
    let tokenizer =
        ClipTokenizer::from_file(&util::repo().join("models/clip-vit-base-patch32/tokenizer.json"), 77, 49407).unwrap();
    let long = tokenizer.encode(&"a dog on a beach ".repeat(40)).unwrap();
    assert_eq!(long.ids.len(), 77);
    assert_eq!((long.ids[0], long.ids[76]), (49406, 49407));
    assert!(long.mask.iter().all(|m| *m == 1));

    let short = tokenizer.encode("a photo of a cat").unwrap();
    assert_eq!(&short.ids[..7], &[49406, 320, 1125, 539, 320, 2368, 49407]);
    assert!(short.ids[7..].iter().all(|id| *id == 49407));
    assert_eq!(short.mask.iter().sum::<i64>(), 7);
}

#[test]
fn longest_padding_pads_a_batch_to_its_longest_text_only() {
    let tokenizer =
        ClipTokenizer::from_file(&util::repo().join("models/clip-vit-base-patch32/tokenizer.json"), 77, 49407)
            .unwrap()
            .with_padding(Padding::Longest);
    let one = tokenizer.encode("a photo of a cat").unwrap();
    assert_eq!((one.len, one.ids.as_slice()), (7, &[49406, 320, 1125, 539, 320, 2368, 49407][..]));
    assert!(one.mask.iter().all(|m| *m == 1));

    let two = tokenizer.encode_batch(&["a cat", "a photo of a cat"]).unwrap();
    assert_eq!(two.len, 7);
    assert_eq!(&two.ids[..7], &[49406, 320, 2368, 49407, 49407, 49407, 49407]);
    assert_eq!(&two.mask[..7], &[1, 1, 1, 1, 0, 0, 0]);
    assert_eq!(&two.ids[7..], &one.ids[..]);

    // Truncation still holds the context length, EOS last.
    let long = tokenizer.encode(&"a dog on a beach ".repeat(40)).unwrap();
    assert_eq!((long.len, long.ids[76]), (77, 49407));
}

#[test]
fn the_clip_manifest_pads_to_the_longest_text_and_others_to_the_context_length() {
    use photo_search_core::models::Manifest;
    let clip = Manifest::parse(
        &std::fs::read_to_string(util::repo().join("models/clip-vit-base-patch32.toml")).unwrap(),
        "clip",
    )
    .unwrap();
    assert_eq!(clip.text.padding, Padding::Longest);
    let color =
        Manifest::parse(&std::fs::read_to_string(util::repo().join("models/test-color.toml")).unwrap(), "color")
            .unwrap();
    assert_eq!(color.text.padding, Padding::MaxLength, "unsaid means fixed length");
}
