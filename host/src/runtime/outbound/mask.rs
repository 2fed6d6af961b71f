//! Masking the credential the host applied in what comes back before the guest reads
//! it: a service that echoes request headers (or a piece that sends its requests to one)
//! must not hand the piece the key the host kept from it. Every response header value
//! and the response body, streamed, have the applied secret replaced — raw, URL-encoded,
//! JSON-escaped, hex (both cases) and base64, and the basic-auth base64 of
//! `user:password` — by `[REDACTED]` (secrets of at least 8 characters).
//!
//! The body is masked as it streams: each chunk is searched together with the tail held
//! back from the one before (the longest end that could begin a form of the secret), so
//! a secret split across chunks is found whole and nothing of it is passed on before it
//! is masked, while a stream of events is not delayed by more than such a tail. Finds
//! that overlap (two forms, or copies of one form) become one mask, also when the
//! chunk ended inside the first: the bytes under a mask already passed on are kept
//! with the tail, so a form starting among them extends that mask. The
//! request asks for an uncompressed whole body (`Accept-Encoding: identity`, no
//! `Range`); a compressed answer is refused rather than passed on unsearched; trailers
//! are masked like headers; `Content-Length` is dropped (masking changes the length).

use super::credential::Applied;
use crate::piece::Credentials;
use base64::Engine as _;
use hyper::body::{Body, Bytes, Frame};
use memchr::memmem::Finder;
use secrecy::ExposeSecret as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

const MASK: &[u8] = b"[REDACTED]";
/// Shorter secrets are not searched for in responses: a key of a few characters would
/// also match ordinary words of a service's answer (`true`, a number) and corrupt it;
/// such a key is guessable anyway. What the piece hands back is still scrubbed.
const MIN_SECRET: usize = 8;

/// The forms of one call's applied secret, ready to be found in responses.
///
/// Each form has its own `memmem` finder. A handful of short needles is searched
/// faster this way than an Aho-Corasick automaton is built: that build, for every call
/// that applies a credential, was a third of the host's instructions in a call with one
/// request (`cargo bench --bench outbound` under callgrind, docs/PERFORMANCE.md).
pub struct ResponseMask {
    /// One finder per form searched for (each holds its needle).
    finders: Vec<Finder<'static>>,
}

impl ResponseMask {
    /// The mask for what `applied` puts on requests, from the secret fields `withheld`
    /// from the guest; `None` when there is nothing to mask.
    pub fn new(applied: &Applied, withheld: &[String], creds: &Credentials) -> Option<Arc<Self>> {
        let secrets = creds.secret_values();
        let mut raw: Vec<String> = withheld
            .iter()
            .filter_map(|field| creds.field(field))
            .map(|v| v.expose_secret().to_owned())
            .filter(|v| secrets.contains(v))
            .collect();
        if let Applied::Header(_, value) = applied {
            // `Basic <base64>` carries no raw secret: mask its token as well.
            let value = value.expose_secret();
            raw.push(
                value
                    .split_once(' ')
                    .map_or(value, |(_, token)| token)
                    .to_owned(),
            );
        }
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for secret in raw.iter().filter(|s| s.len() >= MIN_SECRET) {
            let bytes = secret.as_bytes();
            needles.extend(
                crate::runtime::scrub::text_forms(secret)
                    .into_iter()
                    .map(String::into_bytes),
            );
            needles.push(hex::encode(bytes).into_bytes());
            needles.push(hex::encode_upper(bytes).into_bytes());
            needles.push(
                base64::engine::general_purpose::STANDARD
                    .encode(bytes)
                    .into_bytes(),
            );
        }
        needles.retain(|n| n.len() >= MIN_SECRET);
        needles.sort();
        needles.dedup();
        if needles.is_empty() {
            return None;
        }
        let finders = needles
            .iter()
            .map(|n| Finder::new(n).into_owned())
            .collect();
        Some(Arc::new(ResponseMask { finders }))
    }

    fn needles(&self) -> impl Iterator<Item = &[u8]> {
        self.finders.iter().map(Finder::needle)
    }

    /// How many bytes at the end of `bytes` could begin a form of the secret that the
    /// next chunk completes: the longest end of it that starts some form.
    fn open_tail(&self, bytes: &[u8]) -> usize {
        let longest = self.needles().map(<[u8]>::len).max().unwrap_or(1);
        (1..longest.min(bytes.len() + 1))
            .rev()
            .find(|&k| {
                let tail = &bytes[bytes.len() - k..];
                self.needles().any(|n| n.starts_with(tail))
            })
            .unwrap_or(0)
    }

    /// The response's head made safe to mask: no stale `Content-Length` (masking
    /// changes the length). `Err` with the coding when the body is compressed (a
    /// compressed echo cannot be searched; requests ask for `identity`).
    pub fn prepare_response(&self, headers: &mut http::HeaderMap) -> Result<(), String> {
        if let Some(coding) = headers.get(http::header::CONTENT_ENCODING)
            && !coding.as_bytes().eq_ignore_ascii_case(b"identity")
        {
            return Err(String::from_utf8_lossy(coding.as_bytes()).into_owned());
        }
        headers.remove(http::header::CONTENT_LENGTH);
        self.mask_headers(headers);
        Ok(())
    }

    /// A request whose answer will be masked: asks for an uncompressed, whole body
    /// (a guest's `Accept-Encoding: gzip` or `Range` would let the secret through in a
    /// form the search cannot see).
    pub fn prepare_request<B>(request: &mut http::Request<B>) {
        let headers = request.headers_mut();
        headers.insert(
            http::header::ACCEPT_ENCODING,
            http::HeaderValue::from_static("identity"),
        );
        headers.remove(http::header::RANGE);
        headers.remove(http::header::IF_RANGE);
    }

    /// Every place a form of the secret is in `bytes`, overlapping ones included (also
    /// a form overlapping itself), as (start, end), sorted.
    fn finds(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for finder in &self.finders {
            let len = finder.needle().len();
            let mut from = 0;
            while let Some(at) = finder.find(&bytes[from..]) {
                found.push((from + at, from + at + len));
                from += at + 1;
            }
        }
        found.sort_unstable();
        found
    }

    /// `bytes` with every form of the secret masked: every place any form is found, and
    /// places that overlap merged into one mask (no piece of a secret is left between
    /// two).
    pub fn mask(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len());
        self.mask_into(bytes, 0, bytes.len(), &mut out);
        out
    }

    /// Appends to `out` what `bytes[..cut]` becomes masked, where the first `covered`
    /// bytes lie under a mask already passed on (a find that starts there extends that
    /// mask); finds starting at `cut` or later are left for later. Returns where the
    /// bytes passed on or covered end: `cut`, or further when the last mask reaches
    /// past it.
    fn mask_into(&self, bytes: &[u8], covered: usize, cut: usize, out: &mut Vec<u8>) -> usize {
        // `bytes[..copied]` is passed on, masked where it had to be.
        let mut copied = covered;
        for (start, end) in self.finds(bytes) {
            if start >= cut {
                break;
            }
            if start < copied {
                // Overlaps the mask already written: that mask covers this one too.
                copied = copied.max(end);
                continue;
            }
            out.extend_from_slice(&bytes[copied..start]);
            out.extend_from_slice(MASK);
            copied = end;
        }
        if copied < cut {
            out.extend_from_slice(&bytes[copied..cut]);
            copied = cut;
        }
        copied
    }

    /// Whether any form of the secret is in `bytes`.
    fn is_match(&self, bytes: &[u8]) -> bool {
        self.finders.iter().any(|f| f.find(bytes).is_some())
    }

    /// The response's header values masked.
    pub fn mask_headers(&self, headers: &mut http::HeaderMap) {
        for value in headers.values_mut() {
            if self.is_match(value.as_bytes())
                && let Ok(masked) = http::HeaderValue::from_bytes(&self.mask(value.as_bytes()))
            {
                *value = masked;
            }
        }
    }
}

/// A response body with the secret masked as it streams.
pub struct MaskedBody<B> {
    inner: B,
    mask: Arc<ResponseMask>,
    /// Bytes received but not yet passed on, unmasked: the end of what came that could
    /// begin a form of the secret, or lies under a mask already passed on.
    held: Vec<u8>,
    /// How many of `held`'s first bytes lie under a mask already passed on: a form
    /// that starts there, overlapping that mask, extends it rather than showing.
    covered: usize,
    /// Trailers that came while bytes were held: passed on after them.
    trailers: Option<Frame<Bytes>>,
    done: bool,
}

impl<B> MaskedBody<B> {
    /// Masks `inner` with `mask`.
    pub fn new(inner: B, mask: Arc<ResponseMask>) -> Self {
        MaskedBody {
            inner,
            mask,
            held: Vec::new(),
            covered: 0,
            trailers: None,
            done: false,
        }
    }

    /// Everything held, masked, as the last data (the body or its data ended).
    fn flush(&mut self) -> Option<Frame<Bytes>> {
        let held = std::mem::take(&mut self.held);
        let mut out = Vec::new();
        self.mask.mask_into(
            &held,
            std::mem::take(&mut self.covered),
            held.len(),
            &mut out,
        );
        (!out.is_empty()).then(|| Frame::data(Bytes::from(out)))
    }
}

impl<B> Body for MaskedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.held.extend_from_slice(&data);
                        // Hold back only what could begin a form the next chunk ends.
                        let cut = this.held.len() - this.mask.open_tail(&this.held);
                        let mut out = Vec::new();
                        let reached = this.mask.mask_into(&this.held, this.covered, cut, &mut out);
                        this.covered = reached - cut;
                        this.held.drain(..cut);
                        if !out.is_empty() {
                            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                        }
                    }
                    // Trailers end the data: masked like headers, after what is held.
                    Err(frame) => {
                        let trailers = match frame.into_trailers() {
                            Ok(mut map) => {
                                this.mask.mask_headers(&mut map);
                                Frame::trailers(map)
                            }
                            Err(other) => other,
                        };
                        match this.flush() {
                            None => return Poll::Ready(Some(Ok(trailers))),
                            Some(data) => {
                                this.trailers = Some(trailers);
                                return Poll::Ready(Some(Ok(data)));
                            }
                        }
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(this.flush().map(Ok));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use secrecy::SecretString;

    fn bearer(secret: &str) -> (Arc<ResponseMask>, String) {
        let creds = Credentials::SecretText(SecretString::from(secret.to_owned()));
        let (applied, withheld) =
            super::super::applied_credential(&crate::piece::AuthPlacement::Bearer, &creds)
                .expect("applies");
        (
            ResponseMask::new(&applied, &withheld, &creds).expect("a mask"),
            secret.to_owned(),
        )
    }

    #[tokio::test]
    async fn a_secret_split_across_chunks_and_its_encodings_are_masked() {
        let (mask, secret) = bearer("sk-echoed-7Qx2");
        let text = format!(
            "raw {secret} hex {} HEX {} b64 {} url {} end",
            hex::encode(&secret),
            hex::encode_upper(&secret),
            base64::engine::general_purpose::STANDARD.encode(&secret),
            "sk-echoed-7Qx2"
        );
        // Chunks of 5 bytes: every secret is cut somewhere.
        let body = Chunks(
            text.as_bytes()
                .chunks(5)
                .map(Bytes::copy_from_slice)
                .collect::<Vec<_>>()
                .into_iter(),
        );
        let masked = MaskedBody::new(body, mask)
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let masked = String::from_utf8(masked.to_vec()).expect("utf8");
        assert_eq!(
            masked,
            "raw [REDACTED] hex [REDACTED] HEX [REDACTED] b64 [REDACTED] url [REDACTED] end"
        );
    }

    fn mask_of(forms: &[&str]) -> Arc<ResponseMask> {
        Arc::new(ResponseMask {
            finders: forms
                .iter()
                .map(|n| Finder::new(n.as_bytes()).into_owned())
                .collect(),
        })
    }

    /// `text` streamed through the mask in the chunks `cuts` makes of it.
    async fn streamed(mask: &Arc<ResponseMask>, text: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut chunks = Vec::new();
        let mut from = 0;
        for &cut in cuts.iter().chain([&text.len()]) {
            chunks.push(Bytes::copy_from_slice(&text[from..cut]));
            from = cut;
        }
        MaskedBody::new(Chunks(chunks.into_iter()), mask.clone())
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec()
    }

    #[tokio::test]
    async fn overlapping_forms_are_masked_whole_wherever_the_chunks_end() {
        let mask = mask_of(&["aaaabbbb", "bbbbcccc", "xy123456xy"]);
        for (text, whole) in [
            (&b"x aaaabbbbcccc y"[..], &b"x [REDACTED] y"[..]),
            // A form overlapping itself: every copy is found.
            (b"<xy123456xy123456xy>", b"<[REDACTED]>"),
        ] {
            assert_eq!(mask.mask(text), whole);
            for i in 0..=text.len() {
                assert_eq!(streamed(&mask, text, &[i]).await, whole, "cut at {i}");
                for j in i..=text.len() {
                    assert_eq!(
                        streamed(&mask, text, &[i, j]).await,
                        whole,
                        "cut at {i} and {j}"
                    );
                }
            }
            let every_byte: Vec<usize> = (1..text.len()).collect();
            assert_eq!(streamed(&mask, text, &every_byte).await, whole);
        }
    }

    #[test]
    fn overlapping_forms_are_masked_as_one_and_nothing_else_changes() {
        let mask = mask_of(&["aaaabbbb", "bbbbcccc", "zzzzzzzz"]);
        assert_eq!(mask.mask(b"x aaaabbbbcccc y"), b"x [REDACTED] y");
        assert_eq!(
            mask.mask(b"aaaabbbbzzzzzzzz bbbbcccc"),
            b"[REDACTED][REDACTED] [REDACTED]"
        );
        assert_eq!(mask.mask(b"nothing here"), b"nothing here");
        assert!(mask.is_match(b"..zzzzzzzz.."));
        assert!(!mask.is_match(b"zzzzzzz"));
    }

    #[test]
    fn header_values_are_masked() {
        let (mask, secret) = bearer("sk-echoed-7Qx2");
        let mut headers = http::HeaderMap::new();
        headers.insert("x-echo", format!("Bearer {secret}").parse().expect("value"));
        headers.insert("x-other", "plain".parse().expect("value"));
        mask.mask_headers(&mut headers);
        assert_eq!(headers["x-echo"], "Bearer [REDACTED]");
        assert_eq!(headers["x-other"], "plain");
    }

    #[test]
    fn masked_exchanges_ask_for_identity_and_refuse_a_compressed_answer() {
        let (mask, _) = bearer("sk-echoed-7Qx2");
        let mut request = http::Request::get("https://api.example/x")
            .header("accept-encoding", "gzip, br")
            .header("range", "bytes=0-3")
            .body(())
            .expect("request");
        ResponseMask::prepare_request(&mut request);
        assert_eq!(request.headers()["accept-encoding"], "identity");
        assert!(request.headers().get("range").is_none());
        let mut gzip = http::HeaderMap::new();
        gzip.insert("content-encoding", "gzip".parse().expect("value"));
        assert_eq!(mask.prepare_response(&mut gzip), Err("gzip".to_owned()));
        let mut plain = http::HeaderMap::new();
        plain.insert("content-length", "42".parse().expect("value"));
        assert_eq!(mask.prepare_response(&mut plain), Ok(()));
        assert!(
            plain.get("content-length").is_none(),
            "masking changes the length"
        );
    }

    #[test]
    fn only_what_could_begin_a_secret_is_held_back() {
        let (mask, _) = bearer("sk-echoed-7Qx2");
        assert_eq!(mask.open_tail(b"data: event one\n\n"), 0);
        assert_eq!(mask.open_tail(b"data: sk-ec"), 5);
    }

    /// A body of ready chunks.
    struct Chunks(std::vec::IntoIter<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.next().map(|c| Ok(Frame::data(c))))
        }
    }
}
