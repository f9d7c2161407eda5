package cli

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/pogoserver/pogo/internal/config"
)

// credential resolves --user and --group to the credential the workers
// run with, or nil if neither is given. As in gunicorn, a user alone
// brings its primary group, and --initgroups its other groups.
func credential(cfg *config.Config) (*syscall.Credential, error) {
	if cfg.User == "" && cfg.Group == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), NoSetGroups: true}
	var u *user.User
	if cfg.User != "" {
		var err error
		if u, err = lookupUser(cfg.User); err != nil {
			return nil, fmt.Errorf("--user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if cfg.Group != "" {
		gid, err := lookupGroup(cfg.Group)
		if err != nil {
			return nil, fmt.Errorf("--group: %w", err)
		}
		cred.Gid = gid
	}
	if cfg.InitGroups && u != nil {
		ids, err := u.GroupIds()
		if err != nil {
			return nil, fmt.Errorf("--initgroups: %w", err)
		}
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
		cred.NoSetGroups = false
	} else if os.Getuid() == 0 {
		cred.NoSetGroups = false // drop root's supplementary groups
	}
	if os.Getuid() != 0 && (cred.Uid != uint32(os.Getuid()) || cred.Gid != uint32(os.Getgid())) {
		return nil, fmt.Errorf("--user/--group: pogo runs as uid %d, and only root can start workers as another user", os.Getuid())
	}
	return cred, nil
}

func lookupUser(s string) (*user.User, error) {
	if _, err := strconv.ParseUint(s, 10, 32); err == nil {
		if u, err := user.LookupId(s); err == nil {
			return u, nil
		}
		return &user.User{Uid: s, Gid: s, Username: s}, nil // a uid with no passwd entry
	}
	return user.Lookup(s)
}

func lookupGroup(s string) (uint32, error) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(n), nil
	}
	g, err := user.LookupGroup(s)
	if err != nil {
		return 0, err
	}
	n, _ := strconv.ParseUint(g.Gid, 10, 32)
	return uint32(n), nil
}

// chownLogs gives the workers' user the log files the master opened, so
// that they can open them too.
func chownLogs(cfg *config.Config, cred *syscall.Credential) {
	if cred == nil || os.Getuid() != 0 {
		return
	}
	for _, f := range []string{cfg.ErrorLogFile, cfg.AccessLogFile} {
		if f != "" && f != "-" {
			os.Chown(f, int(cred.Uid), int(cred.Gid))
		}
	}
}

// envDaemon marks the process --daemon started.
const envDaemon = "POGO_DAEMON"

// daemonize starts pogo again with args, detached: in a new session, in
// the same directory, with stdio on /dev/null unless --enable-stdio-
// inheritance keeps stdout and stderr. The caller exits.
func daemonize(args []string, cfg *config.Config) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envDaemon+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	if cfg.KeepStdio {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("--daemon: %w", err)
	}
	return cmd.Process.Release()
}
