//! Images as MCP image content: decoded within a memory limit (a small file can claim a
//! huge canvas), scaled down to fit the asked size, and encoded again (PNG, or JPEG for
//! photographs) until it fits the byte budget. The `image` crate decodes: pure Rust for
//! PNG, JPEG, GIF and WebP, so it builds for the guest, and it enforces allocation limits.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use schemars::JsonSchema;
use serde::Serialize;

/// The most bytes an image may decode into, well under the guest's memory (the input, the
/// scaled copy and the encoded output are held too).
const MAX_DECODED_BYTES: u64 = 16 << 20;
/// The most bytes of image sent back, before base64.
pub const MAX_IMAGE_BYTES: usize = 1 << 20;

#[derive(Debug, Serialize, JsonSchema)]
pub struct Picture {
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    pub original_width: u32,
    pub original_height: u32,
    /// Whether the image sent is the object as it is (small enough already).
    pub unchanged: bool,
    /// Bytes of image sent.
    pub bytes: usize,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// `bytes` as an image no larger than `max_dimension` on its longer side and
/// [`MAX_IMAGE_BYTES`].
pub fn picture(bytes: &[u8], max_dimension: u32) -> Result<Picture, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("it cannot be read as an image ({e})"))?;
    let format = reader
        .format()
        .ok_or("it is not a PNG, JPEG, GIF or WebP image")?;
    let mut reader = reader;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let (original_width, original_height) = reader
        .into_dimensions()
        .map_err(|e| format!("it cannot be read as an image ({e})"))?;
    let fits =
        original_width.max(original_height) <= max_dimension && bytes.len() <= MAX_IMAGE_BYTES;
    if let (true, Some(mime_type)) = (fits, passthrough_mime(format)) {
        return Ok(Picture {
            mime_type: mime_type.into(),
            width: original_width,
            height: original_height,
            original_width,
            original_height,
            unchanged: true,
            bytes: bytes.len(),
            data: bytes.to_vec(),
        });
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| {
        format!(
            "it cannot be decoded within {} MiB ({e})",
            MAX_DECODED_BYTES >> 20
        )
    })?;
    // Never larger than the original (a large file of a small image is re-encoded, not
    // enlarged), and at 8 bits per channel, which is all a preview needs.
    let decoded = match decoded {
        image @ (DynamicImage::ImageLuma8(_)
        | DynamicImage::ImageLumaA8(_)
        | DynamicImage::ImageRgb8(_)
        | DynamicImage::ImageRgba8(_)) => image,
        wide => DynamicImage::ImageRgba8(wide.to_rgba8()),
    };
    let mut side = max_dimension.min(original_width.max(original_height));
    loop {
        let scaled = decoded.thumbnail(side, side);
        let (data, mime_type) = encode(&scaled, format)?;
        if data.len() <= MAX_IMAGE_BYTES || side <= 64 {
            return Ok(Picture {
                mime_type: mime_type.into(),
                width: scaled.width(),
                height: scaled.height(),
                original_width,
                original_height,
                unchanged: false,
                bytes: data.len(),
                data,
            });
        }
        side /= 2;
    }
}

/// Formats MCP clients show as they are.
fn passthrough_mime(format: ImageFormat) -> Option<&'static str> {
    match format {
        ImageFormat::Png => Some("image/png"),
        ImageFormat::Jpeg => Some("image/jpeg"),
        ImageFormat::Gif => Some("image/gif"),
        ImageFormat::WebP => Some("image/webp"),
        _ => None,
    }
}

/// JPEG for photographs (JPEG in, no transparency), PNG otherwise.
fn encode(image: &DynamicImage, from: ImageFormat) -> Result<(Vec<u8>, &'static str), String> {
    let mut out = Cursor::new(Vec::new());
    let written = if from == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(image.to_rgb8())
            .write_to(&mut out, ImageFormat::Jpeg)
            .map(|()| "image/jpeg")
    } else {
        image
            .write_to(&mut out, ImageFormat::Png)
            .map(|()| "image/png")
    };
    let mime = written.map_err(|e| format!("it could not be re-encoded ({e})"))?;
    Ok((out.into_inner(), mime))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use image::{ImageFormat, RgbaImage};

    use super::picture;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbaImage::from_fn(width, height, |x, y| {
            image::Rgba([(x % 256) as u8, (y % 256) as u8, 7, 255])
        });
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a_small_image_is_sent_as_it_is() {
        let bytes = png(40, 30);
        let picture = picture(&bytes, 768).unwrap();
        assert!(picture.unchanged);
        assert_eq!(
            (picture.width, picture.height, picture.mime_type.as_str()),
            (40, 30, "image/png")
        );
        assert_eq!(picture.data, bytes);
    }

    #[test]
    fn a_large_image_is_scaled_to_fit_keeping_its_shape() {
        let picture = picture(&png(1200, 600), 300).unwrap();
        assert!(!picture.unchanged);
        assert_eq!((picture.width, picture.height), (300, 150));
        assert_eq!(
            (picture.original_width, picture.original_height),
            (1200, 600)
        );
        let decoded = image::load_from_memory(&picture.data).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (300, 150));
    }

    /// A file too large to send of an image smaller than asked is re-encoded at its size.
    #[test]
    fn a_small_image_in_a_large_file_is_not_enlarged() {
        let noisy = RgbaImage::from_fn(600, 600, |x, y| {
            let v = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) as u8;
            image::Rgba([v, v.rotate_left(3), v.rotate_left(5), 255])
        });
        let mut out = Cursor::new(Vec::new());
        noisy.write_to(&mut out, ImageFormat::Png).unwrap();
        let bytes = out.into_inner();
        assert!(bytes.len() > 1 << 20, "{}", bytes.len());
        let picture = picture(&bytes, 2048).unwrap();
        assert!(!picture.unchanged);
        assert!(picture.width <= 600 && picture.height <= 600, "{picture:?}");
    }

    #[test]
    fn a_decompression_bomb_and_garbage_are_refused() {
        // A few kilobytes of PNG that decode into 36 MB.
        let bomb = {
            let image = RgbaImage::new(3000, 3000);
            let mut out = Cursor::new(Vec::new());
            image.write_to(&mut out, ImageFormat::Png).unwrap();
            out.into_inner()
        };
        assert!(bomb.len() < 1 << 20, "{}", bomb.len());
        let refused = picture(&bomb, 64).unwrap_err();
        assert!(refused.contains("within 16 MiB"), "{refused}");
        assert!(
            picture(b"not an image at all", 64)
                .unwrap_err()
                .contains("not a PNG")
        );
    }
}
