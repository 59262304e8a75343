//! aioice (Python, PyPI) as the other ICE agent: interop/aioice/agent.py in a virtual
//! environment under the target directory, made and filled from interop/aioice/requirements.txt
//! only when missing or out of date.

use super::agent::{self, AgentCmd};
use super::*;

/// Every aioice case (see `agent::cases`).
pub(super) fn cases(bin: &Path, dir: &Path, report: &mut Report) {
    let cmd = match agent_cmd() {
        Ok(c) => c,
        Err(e) => {
            report.case(
                Case {
                    peer: "aioice",
                    name: "install",
                    roles: "aioice from PyPI in a virtual environment",
                },
                || Verdict::Failed(e),
            );
            return;
        }
    };
    agent::cases(bin, dir, report, &cmd, false);
}

/// agent.py in the virtual environment (made when missing), its aioice version printed.
pub(super) fn agent_cmd() -> std::result::Result<AgentCmd, String> {
    let python = ensure_venv()?;
    let version = agent::output_of(Command::new(&python).args([
        "-c",
        "import importlib.metadata as m; print(m.version('aioice'))",
    ]))
    .unwrap_or_else(|e| e);
    println!("interop: aioice {version} ({})", python.display());
    Ok(AgentCmd {
        peer: "aioice",
        program: python,
        args: vec![
            project_root()
                .join("interop/aioice/agent.py")
                .display()
                .to_string(),
        ],
        // connect() returned: a pair was nominated.
        connected_states: &["connected"],
    })
}

/// The virtual environment's python, with the pinned requirements installed.
fn ensure_venv() -> std::result::Result<PathBuf, String> {
    let requirements = project_root().join("interop/aioice/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .map_err(|e| format!("{}: {e}", requirements.display()))?;
    let venv = target_dir().join("interop").join("aioice-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("requirements.installed");
    if python.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    let _ = fs::remove_dir_all(&venv);
    if !have("python3")
        || Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .status()
            .map_or(true, |s| !s.success())
    {
        agent::apt_install(&["python3", "python3-venv"], false)?;
    }
    run_limited(
        Command::new("python3").arg("-m").arg("venv").arg(&venv),
        INSTALL_LIMIT,
    )?;
    run_limited(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "-r",
            ])
            .arg(&requirements),
        INSTALL_LIMIT,
    )?;
    fs::write(&stamp, wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(python)
}
