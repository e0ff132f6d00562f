//! Search through the service as the app sends it: similar shots folded into one result.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A test stops at what it did not expect.

use photo_search_service::api::{ErrorKind, QueryTerm, SearchRequest};

mod util;

fn red(offset: u32, limit: u32, collapse: bool) -> SearchRequest {
    SearchRequest {
        terms: vec![QueryTerm::Text { text: "red".into(), weight: 1.0 }],
        filters: Default::default(),
        limit,
        offset,
        literal: false,
        collapse,
    }
}

fn name(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

#[test]
fn similar_shots_fold_into_one_result_that_carries_them() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let shades: [(&str, [u8; 3]); 4] =
        [("red-1", [220, 20, 20]), ("red-2", [205, 30, 25]), ("red-3", [230, 12, 30]), ("blue", [20, 30, 220])];
    for (name, rgb) in shades {
        image::RgbImage::from_pixel(64, 48, image::Rgb(rgb)).save(photos.join(format!("{name}.jpg"))).unwrap();
    }
    for i in 0..32u8 {
        let grey = 40 + i * 5;
        image::RgbImage::from_pixel(64, 48, image::Rgb([grey, grey, grey]))
            .save(photos.join(format!("grey-{i}.jpg")))
            .unwrap();
    }
    let service = util::colour_service(&dir.path().join("library"));
    service.add_folder(photos.to_str().unwrap()).unwrap();
    service.start_background();
    util::wait_for(&service, "indexing", |s| s.photos.indexed >= 36);

    let flat = service.search(&red(0, 40, false)).unwrap();
    let names: Vec<String> = flat.hits.iter().map(|h| name(&h.path)).collect();
    assert!(names[..3].iter().all(|n| n.starts_with("red-")), "{names:?}");
    assert!(flat.hits.iter().all(|h| h.similar.is_empty()));
    assert_eq!(flat.strong, Some(3), "the three reds are the strong matches");

    let folded = service.search(&red(0, 40, true)).unwrap();
    let first = &folded.hits[0];
    assert!(name(&first.path).starts_with("red-"), "{first:?}");
    let mut similar: Vec<String> = first.similar.iter().map(|h| name(&h.path)).collect();
    similar.sort();
    let mut others: Vec<String> = names[..3].iter().filter(|n| **n != name(&first.path)).cloned().collect();
    others.sort();
    assert_eq!(similar, others, "the other two reds fold into the first");
    assert!(first.similar.iter().all(|h| h.similar.is_empty() && h.thumbnail.is_some()));
    assert!(folded.hits[1..].iter().all(|h| !name(&h.path).starts_with("red-")), "{:?}", folded.hits);
    assert_eq!(folded.strong, Some(1), "the strong matches are one tile");
    let shown: usize = folded.hits.iter().map(|h| 1 + h.similar.len()).sum();
    assert_eq!(shown, flat.hits.len(), "every photo is still there, folded or not");

    // Pages of one tile follow each other with no repeats, every photo once, the reds folded.
    // (The colour model's greys fold too: their vectors differ in brightness only.)
    let (mut seen, mut tiles, mut offset) = (Vec::new(), Vec::new(), 0);
    loop {
        let page = service.search(&red(offset, 1, true)).unwrap();
        assert_eq!(page.hits.len(), 1, "page {offset}");
        let tile = &page.hits[0];
        tiles.push(name(&tile.path));
        seen.extend(std::iter::once(tile).chain(&tile.similar).map(|h| name(&h.path)));
        offset += 1;
        if !page.more {
            break;
        }
    }
    assert_eq!(tiles.iter().filter(|n| n.starts_with("red-")).count(), 1, "{tiles:?}");
    assert!(tiles.contains(&"blue.jpg".to_string()), "{tiles:?}");
    seen.sort();
    let count = seen.len();
    seen.dedup();
    assert_eq!((count, seen.len()), (36, 36), "every photo once: {seen:?}");
    service.close();
}

/// The search box's text is read by the core's grammar, the one the CLI reads.
#[test]
fn typed_text_is_read_by_the_one_query_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let service = util::colour_service(&dir.path().join("library"));
    let text = |text: &str, weight: f32| QueryTerm::Text { text: text.into(), weight };
    assert_eq!(
        service.parse_query(r#"beach, not: people, 2*"red car" - snow photo:7"#).unwrap(),
        vec![
            text("beach", 1.0),
            text("people", -1.0),
            text("red car", 2.0),
            text("snow", -1.0),
            QueryTerm::Photo { id: 7, weight: 1.0 }
        ]
    );
    assert_eq!(service.parse_query("  ").unwrap(), vec![]);
    let unclosed = service.parse_query(r#""beach"#).unwrap_err();
    assert_eq!((unclosed.kind, unclosed.message.as_str()), (ErrorKind::BadRequest, "unclosed quote in query"));
    let image = service.parse_query("img:/etc/passwd").unwrap_err();
    assert!(image.message.contains("drop or paste the image"), "{image:?}");
}
