//! A browser without JavaScript for the authorization pages: a cookie jar kept by hand,
//! redirects not followed (each `303` is looked at), and the login and consent forms filled in
//! the way a person would. Shared by every black-box test of the user flows.

use reqwest::header::HeaderMap;
use std::collections::HashMap;

/// A browser without JavaScript: a cookie jar and no automatic redirects.
pub struct Browser {
    /// The HTTP client (server CA trusted, no redirects, no client certificate).
    pub http: reqwest::Client,
    /// The origin relative paths are resolved against (the issuer).
    pub base: String,
    /// The cookies set so far, by name.
    pub cookies: HashMap<String, String>,
}

/// One response as the browser saw it.
pub struct Page {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub body: String,
}

impl Page {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Location` header; panics (with the page) when there is none.
    pub fn location(&self) -> &str {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location ({}): {}", self.status, self.body))
    }

    /// The query parameters of the Location.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        let url = url::Url::parse(self.location()).expect("an absolute Location");
        url.query_pairs().into_owned().collect()
    }

    /// The value of the hidden CSRF field.
    pub fn csrf(&self) -> String {
        attr_after(&self.body, "name=\"csrf\" value=\"")
    }

    /// The form's action.
    pub fn action(&self) -> String {
        attr_after(&self.body, "action=\"")
    }
}

fn attr_after(body: &str, marker: &str) -> String {
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in page: {body}"))
        + marker.len();
    let end = body[start..].find('"').expect("a closing quote") + start;
    body[start..end].to_owned()
}

impl Browser {
    /// A browser trusting `ca_pem` whose relative paths resolve against `base` (the issuer).
    pub fn new(base: &str, ca_pem: &str) -> Browser {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the CA PEM"),
            )
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Browser {
            http,
            base: base.trim_end_matches('/').to_owned(),
            cookies: HashMap::new(),
        }
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, r: reqwest::Response) -> Page {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        for c in headers.get_all("set-cookie") {
            let c = c.to_str().expect("a text cookie");
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let body = r.text().await.expect("a body");
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET with the cookies.
    pub async fn get(&mut self, path_or_url: &str) -> Page {
        let r = self
            .http
            .get(self.url(path_or_url))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("GET");
        self.read(r).await
    }

    /// POST a form with the cookies.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("POST");
        self.read(r).await
    }

    /// Follows `303`s on this server until a page, or a redirect elsewhere (returned as is).
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..5 {
            if page.status != 303 || !page.location().starts_with('/') {
                return page;
            }
            let next = page.location().to_owned();
            page = self.get(&next).await;
        }
        page
    }

    /// Opens `url` and follows to the first page or external redirect.
    pub async fn open(&mut self, url: &str) -> Page {
        let first = self.get(url).await;
        self.follow(first).await
    }

    /// Submits the login form on `page`.
    pub async fn login(&mut self, page: &Page, username: &str, password: &str) -> Page {
        assert!(page.body.contains("name=\"username\""), "{}", page.body);
        let (action, csrf) = (page.action(), page.csrf());
        let r = self
            .post(
                &action,
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                    ("login", "login"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "every POST answers 303: {}", r.body);
        self.follow(r).await
    }

    /// Submits the consent form on `page` with `decision` (`allow` or `deny`).
    pub async fn consent(&mut self, page: &Page, decision: &str, remember: bool) -> Page {
        assert!(
            page.body.contains("id=\"consent-approve\""),
            "{}",
            page.body
        );
        let (action, csrf) = (page.action(), page.csrf());
        let mut form = vec![("csrf", csrf.as_str()), ("decision", decision)];
        if remember {
            form.push(("remember", "yes"));
        }
        let r = self.post(&action, &form).await;
        assert_eq!(r.status, 303, "every POST answers 303: {}", r.body);
        self.follow(r).await
    }

    /// Opens `authorize_url`, signs in as `username`, allows, and returns the redirect to the
    /// client (its query holds `code`, `state` and `iss`, or an error).
    pub async fn sign_in_and_allow(
        &mut self,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> Page {
        let login = self.open(authorize_url).await;
        let after_login = self.login(&login, username, password).await;
        let done = if after_login.body.contains("id=\"consent-approve\"") {
            self.consent(&after_login, "allow", false).await
        } else {
            after_login
        };
        assert_eq!(done.status, 303, "a redirect to the client: {}", done.body);
        done
    }
}

/// The same browser for blocking tests that drive whole processes (`crates/certbound/tests`):
/// a cookie jar of name=value pairs (per host, as a browser keeps them), no automatic redirects,
/// and the authorization walked from `/authorize` to the redirect to the client.
pub mod blocking {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::time::Duration;
    use url::Url;

    /// The user's browser: no client certificate, no automatic redirects, a cookie jar.
    pub struct Browser {
        http: reqwest::blocking::Client,
        /// The cookies set so far, by name (tests look at what a secret cookie holds).
        pub jar: BTreeMap<String, String>,
    }

    /// One response as the browser sees it.
    pub struct Page {
        /// The HTTP status.
        pub status: u16,
        /// The `Location` header, if any.
        pub location: Option<String>,
        /// The body as text.
        pub html: String,
    }

    impl Browser {
        /// A browser trusting the CA certificate at `ca_pem`.
        pub fn new(ca_pem: &Path) -> Browser {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let ca = std::fs::read(ca_pem).expect("the CA PEM");
            let http = reqwest::blocking::Client::builder()
                .use_rustls_tls()
                .tls_built_in_root_certs(false)
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a CA"))
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .expect("an HTTP client");
            Browser {
                http,
                jar: BTreeMap::new(),
            }
        }

        /// GETs `url` (or POSTs `form` to it) with the jar's cookies; keeps the cookies set.
        pub fn go(&mut self, url: &Url, form: Option<&[(&str, &str)]>) -> Page {
            let request = match form {
                Some(form) => self.http.post(url.clone()).form(form),
                None => self.http.get(url.clone()),
            };
            let cookies: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let r = request
                .header("cookie", cookies.join("; "))
                .send()
                .expect("a response");
            for c in r.headers().get_all("set-cookie") {
                let pair = c
                    .to_str()
                    .expect("a text cookie")
                    .split(';')
                    .next()
                    .unwrap_or_default();
                if let Some((name, value)) = pair.split_once('=') {
                    self.jar
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
            Page {
                status: r.status().as_u16(),
                location: r
                    .headers()
                    .get("location")
                    .map(|l| l.to_str().expect("a text Location").to_owned()),
                html: r.text().expect("a body"),
            }
        }

        /// Follows the authorization from `start` through the login and consent pages (a simple
        /// search for the form's action and csrf field, no HTML parser) to the redirect to
        /// `redirect_uri`, signing in as `username`: the n-th login page gets `passwords[n]` (the
        /// last one again when there are fewer), then consent is allowed. Returns that URL and
        /// the pages shown.
        pub fn authorize(
            &mut self,
            start: Url,
            redirect_uri: &str,
            username: &str,
            passwords: &[&str],
        ) -> (Url, Vec<&'static str>) {
            let mut url = start;
            let mut form: Option<Vec<(&str, String)>> = None;
            let mut pages = Vec::new();
            for _ in 0..16 {
                let fields: Option<Vec<(&str, &str)>> = form
                    .as_ref()
                    .map(|f| f.iter().map(|(k, v)| (*k, v.as_str())).collect());
                let page = self.go(&url, fields.as_deref());
                form = None;
                if page.status == 303 {
                    let location = page.location.as_deref().expect("a Location");
                    let next = url.join(location).expect("a URL");
                    if next.as_str().starts_with(redirect_uri) {
                        return (next, pages);
                    }
                    url = next;
                    continue;
                }
                assert_eq!(page.status, 200, "{url}: {}", page.html);
                let action = between(&page.html, r#"<form method="post" action=""#, "\"");
                let csrf = between(&page.html, r#"name="csrf" value=""#, "\"");
                if page.html.contains(r#"name="password""#) {
                    let attempt = pages.iter().filter(|p| **p == "login").count();
                    let password = passwords[attempt.min(passwords.len() - 1)];
                    pages.push("login");
                    form = Some(vec![
                        ("csrf", csrf),
                        ("username", username.to_owned()),
                        ("password", password.to_owned()),
                        ("login", "login".to_owned()),
                    ]);
                } else {
                    assert!(page.html.contains(r#"name="decision""#), "{}", page.html);
                    pages.push("consent");
                    form = Some(vec![("csrf", csrf), ("decision", "allow".to_owned())]);
                }
                url = url.join(&action).expect("the form's action");
            }
            panic!("no redirect to {redirect_uri} after {pages:?}");
        }
    }

    /// The text between `start` and the next `end` in `html`, with `&amp;` decoded.
    pub fn between(html: &str, start: &str, end: &str) -> String {
        let from = html
            .find(start)
            .unwrap_or_else(|| panic!("{start} in {html}"))
            + start.len();
        let len = html[from..].find(end).expect("the end marker");
        html[from..from + len].replace("&amp;", "&")
    }
}
