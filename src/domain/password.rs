//! Passwords: argon2id hashes; plaintext wrapped so it never reaches a log.

use super::FieldError;
use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::TryRng;
use rand::rngs::SysRng;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use subtle::ConstantTimeEq;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Sign-ins that may wait for the hashing thread at once (the one being
/// checked included). One check takes tens of milliseconds, so a full
/// queue is answered within about half a second; past it, sign-in is
/// refused at once ("busy") instead of making every request wait.
pub const SIGN_IN_QUEUE: usize = 16;

static WAITING_SIGN_INS: AtomicUsize = AtomicUsize::new(0);

/// A place in the sign-in queue, given back when dropped.
#[derive(Debug)]
pub struct HashingSlot(());

impl HashingSlot {
    /// A place in the queue, or `None` when it is full.
    pub fn try_acquire() -> Option<HashingSlot> {
        WAITING_SIGN_INS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < SIGN_IN_QUEUE).then_some(n + 1)
            })
            .ok()
            .map(|_| HashingSlot(()))
    }
}

impl Drop for HashingSlot {
    fn drop(&mut self) {
        WAITING_SIGN_INS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// argon2id needs 19 MiB per hash. Every hash runs on one thread, one at a
/// time, in one buffer that thread keeps: a burst of sign-ins neither
/// multiplies that memory nor takes every core, and the allocator is not
/// asked for (and does not keep) a fresh 19 MiB each time.
fn hashing_queue() -> &'static Mutex<mpsc::Sender<Job>> {
    static QUEUE: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("password-hashing".into())
            .spawn(move || {
                let mut memory = Vec::new();
                while let Ok(job) = rx.recv() {
                    job(&mut memory);
                }
            });
        if spawned.is_err() {
            tracing::error!("cannot start the password hashing thread");
        }
        Mutex::new(tx)
    })
}

/// Queues `job`; false when the hashing thread is gone.
fn submit(job: Job) -> bool {
    hashing_queue()
        .lock()
        .map(|q| q.send(job).is_ok())
        .unwrap_or(false)
}

/// Runs `job` on the hashing thread and waits for it.
fn on_hashing_thread<T: Send + 'static>(
    job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
) -> Option<T> {
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = submit(Box::new(move |memory: &mut Vec<Block>| {
        let _ = reply_tx.send(job(memory));
    }));
    if !sent {
        tracing::error!("the password hashing thread is gone");
        return None;
    }
    reply_rx.recv().ok()
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("{doing}")]
    Failed {
        doing: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the password hashing thread is gone")]
    ThreadGone,
}

impl HashError {
    fn failed(
        doing: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> HashError {
        HashError::Failed {
            doing,
            source: Box::new(source),
        }
    }
}

pub const MIN_PASSWORD_CHARS: usize = 12;
/// The 10,000 most common passwords, most common first, one per line
/// (the ranked list of the `zxcvbn` project, MIT licence; from the xato
/// corpus of ten million leaked passwords).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// True when `raw` is one of the most common passwords, whatever its case.
pub fn is_common_password(raw: &str) -> bool {
    let lowered = raw.to_lowercase();
    COMMON_PASSWORDS.lines().any(|common| common == lowered)
}
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone)]
pub struct Password {
    text: String,
    /// Made by Latchkey rather than chosen: its member must replace it at
    /// their next sign-in.
    generated: bool,
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// A password chosen by a person (new members, `--password-stdin`).
    pub fn parse_new(raw: &str) -> Result<Password, FieldError> {
        if raw.chars().count() < MIN_PASSWORD_CHARS {
            return Err(FieldError::new(
                "password",
                format!("The password must be at least {MIN_PASSWORD_CHARS} characters."),
            ));
        }
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(FieldError::new("password", "The password is too long."));
        }
        if is_common_password(raw) {
            return Err(FieldError::new(
                "password",
                "This is one of the 10,000 most common passwords, the first ones an attacker tries. Choose another.",
            ));
        }
        Ok(Password {
            text: raw.to_owned(),
            generated: false,
        })
    }

    /// A password typed at sign-in: never validated beyond size, only checked.
    pub fn attempt(raw: &str) -> Password {
        Password {
            text: raw.to_owned(),
            generated: false,
        }
    }

    /// A random 20-character password for first start and new members.
    pub fn generate() -> Result<Password, rand::rngs::SysError> {
        const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        let mut out = String::with_capacity(20);
        let mut buf = [0u8; 64];
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        while out.len() < 20 {
            SysRng.try_fill_bytes(&mut buf)?;
            for &b in buf.iter().filter(|&&b| b < limit) {
                if out.len() == 20 {
                    break;
                }
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
        Ok(Password {
            text: out,
            generated: true,
        })
    }

    /// True when Latchkey made this password (first start, a member added
    /// without one): it is to be replaced at the first sign-in.
    pub fn is_generated(&self) -> bool {
        self.generated
    }

    pub fn expose(&self) -> &str {
        &self.text
    }

    /// Slow by design: call it off the async threads.
    pub fn hash(&self) -> Result<PasswordHash, HashError> {
        let mut salt = [0u8; 16];
        SysRng
            .try_fill_bytes(&mut salt)
            .map_err(|e| HashError::failed("no randomness for a salt", e))?;
        let password = self.text.clone();
        on_hashing_thread(move |memory| {
            let params = Params::default();
            let mut out = [0u8; 32];
            run_argon2(
                memory,
                Algorithm::Argon2id,
                Version::default(),
                &params,
                password.as_bytes(),
                &salt,
                &mut out,
            )
            .map_err(|e| HashError::failed("password hashing failed", e))?;
            let phc = argon2::PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::default().into()),
                params: ParamsString::try_from(&params)
                    .map_err(|e| HashError::failed("encoding a hash", e))?,
                salt: Some(Salt::new(&salt).map_err(|e| HashError::failed("encoding a hash", e))?),
                hash: Some(Output::new(&out).map_err(|e| HashError::failed("encoding a hash", e))?),
            };
            Ok(PasswordHash(phc.to_string()))
        })
        .unwrap_or(Err(HashError::ThreadGone))
    }

    /// Slow by design: call it off the async threads.
    pub fn verify(&self, hash: &PasswordHash) -> bool {
        let (password, stored) = (self.text.clone(), hash.0.clone());
        on_hashing_thread(move |memory| check(memory, &password, &stored)).unwrap_or(false)
    }

    /// Checks the password on the hashing thread and hands the answer to
    /// `done` there; returns at once. The slot is held until then.
    pub fn verify_then(
        &self,
        hash: &PasswordHash,
        slot: HashingSlot,
        done: impl FnOnce(bool) + Send + 'static,
    ) {
        let (password, stored) = (self.text.clone(), hash.0.clone());
        let sent = submit(Box::new(move |memory: &mut Vec<Block>| {
            let ok = check(memory, &password, &stored);
            drop(slot);
            done(ok);
        }));
        if !sent {
            tracing::error!("the password hashing thread is gone");
        }
    }
}

/// Whether `password` matches the PHC string `stored`.
fn check(memory: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    let Ok(phc) = argon2::PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(phc.algorithm.as_str()),
        Params::try_from(&phc),
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let expected = expected.as_ref();
    let mut out = vec![0u8; expected.len()];
    run_argon2(
        memory,
        algorithm,
        version,
        &params,
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
    )
    .is_ok()
        && bool::from(out.ct_eq(expected))
}

/// argon2 in the hashing thread's reusable memory.
fn run_argon2(
    memory: &mut Vec<Block>,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    memory.resize(params.block_count(), Block::default());
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt,
        out,
        &mut memory[..],
    )
}

/// A PHC-format argon2id hash string.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn from_stored(s: String) -> Self {
        PasswordHash(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_common_passwords_are_refused_whatever_their_case() {
        assert_eq!(COMMON_PASSWORDS.lines().count(), 10_000);
        for common in ["qwerty123456", "QAZWSXEDCRFV", "1q2w3e4r5t6y"] {
            let refused = Password::parse_new(common).expect_err(common);
            assert!(refused.message.contains("most common"), "{common}");
        }
        assert!(Password::parse_new("qwerty1234567").is_ok());
    }

    #[test]
    fn hash_and_verify() {
        let pw = Password::parse_new("correct horse battery").expect("long enough");
        let hash = pw.hash().expect("hash");
        assert!(hash.as_str().starts_with("$argon2id$"));
        assert!(pw.verify(&hash));
        assert!(!Password::attempt("wrong horse battery").verify(&hash));
        assert!(!Password::attempt("x").verify(&PasswordHash::from_stored("garbage".into())));
    }

    #[test]
    fn hashes_are_standard_phc_argon2id() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let pw = Password::parse_new("interoperable secret").expect("long enough");
        let ours = pw.hash().expect("hash");
        assert!(ours.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            Argon2::default()
                .verify_password(pw.expose().as_bytes(), ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password(pw.expose().as_bytes())
            .expect("hash")
            .to_string();
        assert!(pw.verify(&PasswordHash::from_stored(theirs.clone())));
        assert!(!Password::attempt("other").verify(&PasswordHash::from_stored(theirs)));
    }

    #[test]
    fn the_sign_in_queue_is_bounded() {
        let slots: Vec<HashingSlot> = std::iter::from_fn(HashingSlot::try_acquire)
            .take(SIGN_IN_QUEUE + 5)
            .collect();
        assert!(slots.len() <= SIGN_IN_QUEUE);
        assert!(HashingSlot::try_acquire().is_none());
        drop(slots);
        let pw = Password::parse_new("queued and checked").expect("long enough");
        let hash = pw.hash().expect("hash");
        let (tx, rx) = mpsc::channel();
        let slot = HashingSlot::try_acquire().expect("room again");
        pw.verify_then(&hash, slot, move |ok| {
            let _ = tx.send(ok);
        });
        assert_eq!(rx.recv().ok(), Some(true));
    }

    #[test]
    fn rules_and_redaction() {
        assert!(Password::parse_new("short").is_err());
        let generated = Password::generate().expect("os rng");
        assert_eq!(generated.expose().len(), 20);
        assert!(!format!("{generated:?}").contains(generated.expose()));
    }
}
