//! libnice (C, Debian's libnice-dev) as the other ICE agent: interop/libnice/agent.c, built
//! with gcc and pkg-config into the scratch directory, RFC 5245 compatibility, reliable FALSE,
//! one stream with one component; also as an ICE-lite agent (full-mode FALSE).

use super::agent::{self, AgentCmd};
use super::*;

/// Every libnice case (see `agent::cases`), the ICE-lite one included.
pub(super) fn cases(bin: &Path, dir: &Path, report: &mut Report) {
    let program = match build_agent(dir) {
        Ok(p) => p,
        Err(e) => {
            report.case(
                Case {
                    peer: "libnice",
                    name: "install and build",
                    roles: "libnice-dev from Debian, interop/libnice/agent.c",
                },
                || Verdict::Failed(e),
            );
            return;
        }
    };
    let version = agent::output_of(Command::new("pkg-config").args(["--modversion", "nice"]))
        .unwrap_or_else(|e| e);
    println!("interop: libnice {version} ({})", program.display());
    let cmd = AgentCmd {
        peer: "libnice",
        program,
        args: Vec::new(),
        // libnice's component states: "connected" once a pair works, "ready" once nominated.
        connected_states: &["connected", "ready"],
    };
    agent::cases(bin, dir, report, &cmd, true);
}

/// Installs libnice-dev, pkg-config and gcc when missing, then builds the agent.
fn build_agent(dir: &Path) -> std::result::Result<PathBuf, String> {
    let ready = || {
        have("gcc")
            && Command::new("pkg-config")
                .args(["--exists", "nice", "glib-2.0"])
                .status()
                .is_ok_and(|s| s.success())
    };
    if !ready() {
        agent::apt_install(&["libnice-dev", "pkg-config", "gcc", "libc6-dev"], false)?;
    }
    let flags = agent::output_of(
        Command::new("pkg-config").args(["--cflags", "--libs", "nice", "glib-2.0"]),
    )?;
    let source = project_root().join("interop/libnice/agent.c");
    let program = dir.join("libnice-agent");
    run_limited(
        Command::new("gcc")
            .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&program)
            .arg(&source)
            .args(flags.split_whitespace()),
        TOOL_LIMIT,
    )?;
    Ok(program)
}
