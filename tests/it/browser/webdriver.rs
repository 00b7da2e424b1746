//! A small W3C WebDriver client over HTTP (chromedriver), enough for the
//! console's flows: navigate, find by label / role / text, click, type,
//! read, run a script, accept a dialog, take a screenshot.

use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether this machine can run the browser tests.
pub fn available() -> bool {
    std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()
}

pub struct Browser {
    pub javascript: bool,
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    profile: PathBuf,
}

#[derive(Clone, Debug)]
pub struct Element(String);

impl Element {
    /// The element as a script argument.
    pub fn to_json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub fn start(javascript: bool) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let started = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile =
            std::env::temp_dir().join(format!("latchkey-chromium-{port}-{}", std::process::id()));
        let mut prefs = json!({});
        if !javascript {
            prefs = json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        let caps = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--window-size=1280,800",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                    "prefs": prefs,
                },
                "unhandledPromptBehavior": "ignore",
            }}
        });
        let mut res = agent
            .post(format!("{base}/session"))
            .send_json(&caps)
            .expect("new session");
        let body: Value = res.body_mut().read_json().expect("session json");
        let session = body["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {body}"))
            .to_owned();
        Browser {
            javascript,
            driver,
            base,
            session,
            agent,
            profile,
        }
    }

    /// A Chrome DevTools command (emulated media, time zone).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.must(
            "POST",
            "/goog/cdp/execute",
            Some(json!({ "cmd": cmd, "params": params })),
        )
    }

    /// Pages as a reader who asked for a dark scheme sees them.
    pub fn prefer_dark(&self, dark: bool) {
        let value = if dark { "dark" } else { "light" };
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] }),
        );
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, Some(b)) => self.agent.post(&url).send_json(&b),
            (_, None) => self.agent.post(&url).send_json(json!({})),
        };
        let mut res = res.map_err(|e| e.to_string())?;
        let ok = res.status().is_success();
        let value: Value = res.body_mut().read_json().map_err(|e| e.to_string())?;
        if ok {
            Ok(value["value"].clone())
        } else {
            Err(format!(
                "{}: {}",
                value["value"]["error"], value["value"]["message"]
            ))
        }
    }

    #[track_caller]
    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.must("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn back(&self) {
        self.must("POST", "/back", None);
    }

    pub fn refresh(&self) {
        self.must("POST", "/refresh", None);
    }

    pub fn source(&self) -> String {
        self.must("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.must(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    pub fn execute_async(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/async",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Grants a permission (e.g. `clipboard-read`) where the driver can.
    pub fn grant(&self, permission: &str) {
        let _ = self.call(
            "POST",
            "/permissions",
            Some(json!({ "descriptor": { "name": permission }, "state": "granted" })),
        );
    }

    pub fn screenshot(&self, path: &std::path::Path) {
        let data = self.must("GET", "/screenshot", None);
        let bytes = decode_base64(data.as_str().unwrap_or_default());
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, bytes).expect("write screenshot");
    }

    fn find_all(&self, xpath: &str) -> Vec<Element> {
        self.call(
            "POST",
            "/elements",
            Some(json!({ "using": "xpath", "value": xpath })),
        )
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e[ELEMENT_KEY].as_str().map(|s| Element(s.to_owned())))
        .collect()
    }

    /// Waits (up to 5 s) for exactly the XPath to match, then returns the
    /// first match. htmx swaps replace elements, so lookups always poll.
    #[track_caller]
    pub fn find(&self, xpath: &str) -> Element {
        let started = Instant::now();
        loop {
            if let Some(e) = self.find_all(xpath).into_iter().next() {
                return e;
            }
            if started.elapsed() > Duration::from_secs(5) {
                panic!("nothing matches {xpath} on {}", self.url());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn count(&self, xpath: &str) -> usize {
        self.find_all(xpath).len()
    }

    /// Waits until `check` holds (up to 5 s).
    #[track_caller]
    pub fn wait_until(&self, what: &str, check: impl Fn(&Browser) -> bool) {
        let started = Instant::now();
        while !check(self) {
            if started.elapsed() > Duration::from_secs(5) {
                panic!("timed out waiting for {what} on {}", self.url());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, e: &Element) {
        self.must("POST", &format!("/element/{}/click", e.0), None);
    }

    pub fn type_into(&self, e: &Element, text: &str) {
        self.must("POST", &format!("/element/{}/clear", e.0), None);
        self.must(
            "POST",
            &format!("/element/{}/value", e.0),
            Some(json!({ "text": text })),
        );
    }

    pub fn text(&self, e: &Element) -> String {
        self.must("GET", &format!("/element/{}/text", e.0), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub fn property(&self, e: &Element, name: &str) -> Value {
        self.must("GET", &format!("/element/{}/property/{name}", e.0), None)
    }

    pub fn attribute(&self, e: &Element, name: &str) -> Option<String> {
        self.must("GET", &format!("/element/{}/attribute/{name}", e.0), None)
            .as_str()
            .map(str::to_owned)
    }

    // --- Finding things the way a person does ------------------------------

    /// The form control labelled `label` (by `<label for>` or aria-label).
    #[track_caller]
    pub fn field(&self, label: &str) -> Element {
        let xpath = format!(
            "//*[@id=//label[normalize-space(.)={q} or starts-with(normalize-space(.), {qs})]/@for] | //*[@aria-label={q}]",
            q = quote(label),
            qs = quote(&format!("{label} ")),
        );
        self.find(&xpath)
    }

    /// A button (or submit input) whose visible text is `text`.
    #[track_caller]
    pub fn button(&self, text: &str) -> Element {
        self.find(&format!(
            "//button[normalize-space(.)={q} or @aria-label={q}] | //input[@type='submit' and @value={q}]",
            q = quote(text)
        ))
    }

    /// A link whose visible text is `text`.
    #[track_caller]
    pub fn link(&self, text: &str) -> Element {
        self.find(&format!("//a[normalize-space(.)={}]", quote(text)))
    }

    pub fn has_text(&self, text: &str) -> bool {
        self.count(&format!(
            "//body//*[contains(normalize-space(.), {})]",
            quote(text)
        )) > 0
    }

    #[track_caller]
    pub fn wait_for_text(&self, text: &str) {
        self.wait_until(&format!("text {text:?}"), |b| b.has_text(text));
    }

    /// Chooses an option of a `<select>` by its visible text.
    pub fn select(&self, select: &Element, option_text: &str) {
        let option = self
            .call(
                "POST",
                &format!("/element/{}/element", select.0),
                Some(json!({ "using": "xpath", "value": format!(".//option[starts-with(normalize-space(.), {})]", quote(option_text)) })),
            )
            .unwrap_or_else(|e| panic!("no option {option_text:?}: {e}"));
        let id = option[ELEMENT_KEY].as_str().unwrap_or_default().to_owned();
        self.click(&Element(id));
    }
}

/// An XPath string literal for any text.
fn quote(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn decode_base64(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
