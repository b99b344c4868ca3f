//! Puts the git commit in `CREDITS_GIT_SHA` at build time: from the environment (CI, SAM) or
//! from `git` when the source is a checkout; absent otherwise.
fn main() {
    println!("cargo:rerun-if-env-changed=CREDITS_GIT_SHA");
    let sha = std::env::var("CREDITS_GIT_SHA").ok().or_else(|| {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    if let Some(sha) = sha.filter(|s| !s.is_empty()) {
        println!("cargo:rustc-env=CREDITS_GIT_SHA={sha}");
    }
}
