//! The HTTP side of the user flows: keep-alive connections by origin ([`Conns`]), and a browser
//! without JavaScript ([`Browser`]): a cookie jar, redirects looked at one by one, and HTML forms
//! read generically (the form's `action`, its hidden inputs, `username` and `password` filled in
//! where the form has such inputs, the `allow` button and the `remember` box of a consent form).
//! Nothing here knows which server it talks to: the same walk fits certbound's pages and the
//! peer's, which are built to the same shape.

use crate::load::{connect_to, split, Sender};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::HashMap;
use tokio_rustls::TlsConnector;

/// The most pages and redirects one authorization may take before it counts as a failure.
const MAX_STEPS: usize = 16;

/// One response, as much of it as the flows read.
pub(crate) struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The `Location` header.
    pub location: Option<String>,
    /// Every `Set-Cookie` header.
    pub set_cookies: Vec<String>,
    /// The body.
    pub body: Bytes,
}

/// Keep-alive HTTP/1.1 connections over TLS, one per origin (`host:port`), opened on first use
/// and again after the server closed one.
pub(crate) struct Conns {
    tls: TlsConnector,
    open: HashMap<String, Sender>,
}

impl Conns {
    /// Connections made with `tls` (with a client certificate or without).
    pub fn new(tls: TlsConnector) -> Conns {
        Conns {
            tls,
            open: HashMap::new(),
        }
    }

    /// Sends `method url` with `headers` and, for a POST, the form `body`; reads the answer.
    /// Errors are short labels (`connect`, `tls`, `send`...).
    pub async fn request(
        &mut self,
        method: http::Method,
        url: &str,
        headers: &[(http::HeaderName, &str)],
        body: Option<Bytes>,
    ) -> Result<Response, String> {
        let (host, port, path, authority) = split(url).map_err(|_| "bad url".to_owned())?;
        // A connection the server has closed since (keep-alive timeout) is replaced, as a
        // browser does, before anything is sent on it.
        let reusable = match self.open.get_mut(&authority) {
            Some(s) => !s.is_closed() && s.ready().await.is_ok(),
            None => false,
        };
        if !reusable {
            let sender = connect_to(&self.tls, &host, port).await?;
            self.open.insert(authority.clone(), sender);
        }
        let sender = self
            .open
            .get_mut(&authority)
            .ok_or_else(|| "no connection".to_owned())?;
        let mut b = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &authority);
        for (name, value) in headers {
            b = b.header(name, *value);
        }
        if body.is_some() {
            b = b.header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            );
        }
        let request = b
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| "request".to_owned())?;
        let result = async {
            sender
                .ready()
                .await
                .map_err(|_| "connection closed".to_owned())?;
            let resp = sender
                .send_request(request)
                .await
                .map_err(|_| "send".to_owned())?;
            let status = resp.status().as_u16();
            let header = |name: http::HeaderName| {
                resp.headers()
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned))
                    .collect::<Vec<_>>()
            };
            let location = header(http::header::LOCATION).into_iter().next();
            let set_cookies = header(http::header::SET_COOKIE);
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|_| "body".to_owned())?
                .to_bytes();
            Ok(Response {
                status,
                location,
                set_cookies,
                body,
            })
        }
        .await;
        if result.is_err() {
            self.open.remove(&authority);
        }
        result
    }
}

/// The user's credentials, typed into a login form.
#[derive(Clone)]
pub struct Credentials {
    /// Goes into the form's `username` input.
    pub username: String,
    /// Goes into the form's `password` input.
    pub password: String,
}

/// The pages an authorization showed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pages {
    /// Login forms filled in.
    pub login: u32,
    /// Consent forms allowed.
    pub consent: u32,
}

/// A browser without JavaScript and without a client certificate.
pub(crate) struct Browser {
    conns: Conns,
    jar: Jar,
}

/// Cookies by (name, path); the flows talk to one host, so no domain is kept.
#[derive(Default)]
struct Jar(HashMap<(String, String), String>);

impl Browser {
    /// A browser whose connections are made with `tls` (no client certificate).
    pub fn new(tls: TlsConnector) -> Browser {
        Browser {
            conns: Conns::new(tls),
            jar: Jar::default(),
        }
    }

    /// Forgets every cookie (a fresh browser; the connections stay open).
    pub fn clear_cookies(&mut self) {
        self.jar.0.clear();
    }

    /// Opens `url` and goes where the server sends it: redirects on the server are followed,
    /// login forms filled in with `credentials`, consent forms allowed (with `remember`), until
    /// a redirect to `redirect_uri`, which is returned unvisited with the pages seen. A login
    /// page shown again after a login counts as a refused login.
    pub async fn authorize(
        &mut self,
        url: &str,
        redirect_uri: &str,
        credentials: &Credentials,
    ) -> Result<(url::Url, Pages), String> {
        let mut pages = Pages::default();
        let mut at = url::Url::parse(url).map_err(|_| "authorize: bad url".to_owned())?;
        let mut post: Option<Bytes> = None;
        for _ in 0..MAX_STEPS {
            let method = match post {
                Some(_) => http::Method::POST,
                None => http::Method::GET,
            };
            let cookie = self.jar.header(at.path());
            let headers: Vec<(http::HeaderName, &str)> = match cookie.as_deref() {
                Some(c) => vec![(http::header::COOKIE, c)],
                None => Vec::new(),
            };
            let r = self
                .conns
                .request(method, at.as_str(), &headers, post.take())
                .await
                .map_err(|e| format!("authorize: {e}"))?;
            self.jar.keep(&r.set_cookies, at.path());
            match r.status {
                301..=303 => {
                    let location = r
                        .location
                        .ok_or_else(|| format!("authorize: http {} without Location", r.status))?;
                    let next = at
                        .join(&location)
                        .map_err(|_| "authorize: bad Location".to_owned())?;
                    if next.as_str().starts_with(redirect_uri) {
                        return Ok((next, pages));
                    }
                    at = next;
                }
                200 => {
                    let html = std::str::from_utf8(&r.body)
                        .map_err(|_| "authorize: page not UTF-8".to_owned())?;
                    let (form, kind) = pick_form(html).ok_or_else(|| {
                        "authorize: a page without a login or consent form".to_owned()
                    })?;
                    match kind {
                        FormKind::Login if pages.login > 0 => {
                            return Err("authorize: login refused".to_owned())
                        }
                        FormKind::Login => pages.login += 1,
                        FormKind::Consent => pages.consent += 1,
                    }
                    if !form.method.eq_ignore_ascii_case("post") {
                        return Err("authorize: a form that does not POST".to_owned());
                    }
                    let fields = form.fill(kind, credentials);
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(fields)
                        .finish();
                    post = Some(Bytes::from(body));
                    at = at
                        .join(&form.action)
                        .map_err(|_| "authorize: bad form action".to_owned())?;
                }
                status => return Err(format!("authorize: http {status}")),
            }
        }
        Err("authorize: too many steps".to_owned())
    }
}

impl Jar {
    /// The `Cookie` header for a request to `path`.
    fn header(&self, path: &str) -> Option<String> {
        let pairs: Vec<String> = self
            .0
            .iter()
            .filter(|((_, cookie_path), _)| path_matches(cookie_path, path))
            .map(|((name, _), value)| format!("{name}={value}"))
            .collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps (or, when expired or emptied, drops) the cookies a response to `path` set.
    fn keep(&mut self, set_cookies: &[String], path: &str) {
        for header in set_cookies {
            let mut parts = header.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            let mut cookie_path = default_path(path);
            let mut expired = value.is_empty();
            for attr in parts {
                let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("path") && v.starts_with('/') {
                    cookie_path = v.to_owned();
                } else if k.eq_ignore_ascii_case("max-age") {
                    expired |= v.parse::<i64>().is_ok_and(|s| s <= 0);
                } else if k.eq_ignore_ascii_case("expires") {
                    expired |= v.contains("1970");
                }
            }
            let key = (name.to_owned(), cookie_path);
            if expired {
                self.0.remove(&key);
            } else {
                self.0.insert(key, value.to_owned());
            }
        }
    }
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => path[..i].to_owned(),
    }
}

/// RFC 6265 §5.1.4: whether a cookie with `cookie_path` goes with a request to `path`.
fn path_matches(cookie_path: &str, path: &str) -> bool {
    path == cookie_path
        || (path.starts_with(cookie_path)
            && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')))
}

/// What a form is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FormKind {
    /// It has a password input.
    Login,
    /// It has a submit button whose value is `allow`.
    Consent,
}

/// One `<input>` or `<button>` of a form.
#[derive(Debug, Default)]
struct Field {
    tag: String,
    kind: String,
    name: String,
    value: String,
    checked: bool,
}

impl Field {
    fn is_submit(&self) -> bool {
        self.kind == "submit" || (self.tag == "button" && self.kind.is_empty())
    }
}

/// An HTML form: where it goes and its fields.
#[derive(Debug, Default)]
struct Form {
    action: String,
    method: String,
    fields: Vec<Field>,
}

impl Form {
    /// The name=value pairs a person would send: every hidden and text field as it is, the
    /// username and password typed into `username` and `password`, checked boxes (and the
    /// `remember` box, ticked), and the one button pressed: `allow` on a consent form, else
    /// the first named submit button.
    fn fill(&self, kind: FormKind, credentials: &Credentials) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in self
            .fields
            .iter()
            .filter(|f| !f.is_submit() && !f.name.is_empty())
        {
            let value = match (f.kind.as_str(), f.name.as_str()) {
                ("checkbox" | "radio", "remember") => Some(f.value.clone()),
                ("checkbox" | "radio", _) => f.checked.then(|| f.value.clone()),
                ("password", "password") => Some(credentials.password.clone()),
                ("password", _) => Some(String::new()),
                (_, "username") => Some(credentials.username.clone()),
                _ => Some(f.value.clone()),
            };
            if let Some(v) = value {
                out.push((f.name.clone(), v));
            }
        }
        let submits = self
            .fields
            .iter()
            .filter(|f| f.is_submit() && !f.name.is_empty());
        let pressed = match kind {
            FormKind::Consent => submits.into_iter().find(|f| f.value == "allow"),
            FormKind::Login => submits.into_iter().next(),
        };
        if let Some(b) = pressed {
            out.push((b.name.clone(), b.value.clone()));
        }
        out
    }
}

/// The page's login form (one with a password input), else its consent form (one with an
/// `allow` button).
fn pick_form(html: &str) -> Option<(Form, FormKind)> {
    let forms = parse_forms(html);
    let login = forms
        .iter()
        .position(|f| f.fields.iter().any(|x| x.kind == "password"));
    let consent = forms
        .iter()
        .position(|f| f.fields.iter().any(|x| x.is_submit() && x.value == "allow"));
    let (i, kind) = match (login, consent) {
        (Some(i), _) => (i, FormKind::Login),
        (None, Some(i)) => (i, FormKind::Consent),
        (None, None) => return None,
    };
    forms.into_iter().nth(i).map(|f| (f, kind))
}

/// The forms of a page: a scan of its tags (no HTML parser; `<form>`, `<input>`, `<button>`
/// and `</form>` are all it looks at).
fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let end = tag_end(rest);
        let tag = &rest[..end];
        rest = &rest[(end + 1).min(rest.len())..];
        let name_len = tag
            .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
            .unwrap_or(tag.len());
        let name = tag[..name_len].to_ascii_lowercase();
        let attrs = attributes(&tag[name_len..]);
        let attr = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        match name.as_str() {
            "form" => {
                current = Some(Form {
                    action: attr("action").unwrap_or_default(),
                    method: attr("method").unwrap_or_else(|| "get".to_owned()),
                    fields: Vec::new(),
                })
            }
            "/form" => forms.extend(current.take()),
            "input" | "button" => {
                if let Some(form) = current.as_mut() {
                    form.fields.push(Field {
                        kind: attr("type").unwrap_or_default().to_ascii_lowercase(),
                        name: attr("name").unwrap_or_default(),
                        value: attr("value").unwrap_or_else(|| match name.as_str() {
                            "input" if attr("type").as_deref() == Some("checkbox") => {
                                "on".to_owned()
                            }
                            _ => String::new(),
                        }),
                        checked: attr("checked").is_some(),
                        tag: name,
                    })
                }
            }
            _ => {}
        }
    }
    forms.extend(current);
    forms
}

/// Where the tag starting at `s` ends: the first `>` outside a quoted attribute value.
fn tag_end(s: &str) -> usize {
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return i,
            _ => {}
        }
    }
    s.len()
}

/// The attributes of a tag (after its name), names lower-cased, values unquoted and decoded; a
/// boolean attribute has the empty value.
fn attributes(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if i == start {
            break;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let from = i + 1;
                let to = b[from..]
                    .iter()
                    .position(|&c| c == q)
                    .map_or(b.len(), |p| from + p);
                value = decode_entities(&s[from..to]);
                i = (to + 1).min(b.len());
            } else {
                let from = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode_entities(&s[from..i]);
            }
        }
        out.push((name, value));
    }
    out
}

/// Decodes the character references an attribute value may hold: `&amp; &lt; &gt; &quot;
/// &apos;` and numeric ones (`&#60;`, `&#x3C;`); anything else is kept as it is.
fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            username: "alice".into(),
            password: "pw & more".into(),
        }
    }

    const LOGIN: &str = r#"<main><form method="post" action="/interaction/i&#45;1/login">
<input type="hidden" name="csrf" value="t&amp;k">
<input type="text" id="username" name="username" value="" autocomplete="username" required autofocus>
<input type="password" id="password" name="password" required>
<button type="submit" name="login" id="login-submit" class="login-submit" value="login">Sign in</button>
</form></main>"#;

    const CONSENT: &str = r#"<form method="post" action='/interaction/i1/consent'>
<input type="hidden" name="csrf" value="tok">
<label><input type="checkbox" name="remember" id="consent-remember" value="yes" checked> Remember</label>
<button type="submit" name="decision" value="allow" id="consent-approve">Allow</button>
<button type="submit" name="decision" value="deny" id="consent-deny">Deny</button>
</form>"#;

    #[test]
    fn a_login_form_is_filled_with_the_credentials() {
        let (form, kind) = pick_form(LOGIN).unwrap();
        assert_eq!(kind, FormKind::Login);
        assert_eq!(form.action, "/interaction/i-1/login");
        let fields = form.fill(kind, &creds());
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("csrf"), Some("t&k"));
        assert_eq!(get("username"), Some("alice"));
        assert_eq!(get("password"), Some("pw & more"));
        assert_eq!(get("login"), Some("login"));
    }

    #[test]
    fn a_consent_form_is_allowed_and_remembered() {
        let (form, kind) = pick_form(CONSENT).unwrap();
        assert_eq!(kind, FormKind::Consent);
        let fields = form.fill(kind, &creds());
        assert_eq!(
            fields,
            vec![
                ("csrf".to_owned(), "tok".to_owned()),
                ("remember".to_owned(), "yes".to_owned()),
                ("decision".to_owned(), "allow".to_owned()),
            ]
        );
        assert!(pick_form("<h1>Authorization error</h1>").is_none());
    }

    #[test]
    fn cookies_follow_their_path_and_expiry() {
        let mut b = Jar::default();
        b.keep(
            &[
                "__Host-cb_i=abc; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax".into(),
                "_interaction=u1; path=/interaction/u1; expires=Wed, 01 Jan 2099 00:00:00 GMT"
                    .into(),
                "_session=s; path=/".into(),
            ],
            "/authorize",
        );
        assert_eq!(
            b.header("/interaction/u1").map(|c| c.len()),
            Some("__Host-cb_i=abc; _interaction=u1; _session=s".len())
        );
        assert!(!b.header("/auth/u1").unwrap().contains("_interaction"));
        assert!(!b
            .header("/interaction/u10")
            .unwrap()
            .contains("_interaction="));
        b.keep(
            &[
                "_interaction=; path=/interaction/u1; expires=Thu, 01 Jan 1970 00:00:00 GMT".into(),
                "__Host-cb_i=; Max-Age=0; Path=/".into(),
            ],
            "/interaction/u1",
        );
        assert_eq!(b.header("/interaction/u1").as_deref(), Some("_session=s"));
        b.0.clear();
        assert_eq!(b.header("/"), None);
    }

    #[test]
    fn entities_and_paths() {
        assert_eq!(
            decode_entities("a&#60;b&#x3e;&amp;&unknown;&"),
            "a<b>&&unknown;&"
        );
        assert_eq!(default_path("/interaction/x/login"), "/interaction/x");
        assert_eq!(default_path("/authorize"), "/");
        assert!(path_matches("/", "/x"));
        assert!(path_matches("/a", "/a/b"));
        assert!(!path_matches("/a", "/ab"));
    }
}
