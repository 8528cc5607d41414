package main

// examples are Example sections, by command name, for the commands whose
// constructors give none: the help and the man pages show them.
var examples = map[string]string{
	"run": `  # A shell in a jail with its own address and hostname, as jail(8) would
  prison run --ip 10.0.0.5 --host cust1 /bin/sh

  # A web server in a root of its own (under a directory only root can enter)
  prison run --root /srv/jails/www --host www --ip 10.0.0.5 httpd -f -p 80 -h /www

  # A jail on the LAN, with its own MAC address on eth0
  prison run --net macvlan:eth0 --ip 192.168.1.50/24 --gateway 192.168.1.1 /bin/sh

  # As nobody, loopback only; prison exits with the command's status, 3
  prison run --user nobody -- sh -c 'id; exit 3'`,
	"spec": `  # The OCI runtime spec of a jail, as prison run would run it
  prison spec --ip 10.0.0.5 --host cust1 /bin/sh

  # What allow.raw_sockets changes, for a jq user
  prison spec --allow raw_sockets -- ping 10.0.0.1 | jq .process.capabilities`,
	"seccomp": `  # The syscall policy of a jail with default parameters
  prison seccomp

  # The allow.* parameters, and what root keeps inside with raw sockets
  prison seccomp --allow raw_sockets --params

  # The compiled filter of a jail that shares the host's SysV IPC
  prison seccomp --sysvipc inherit --bpf | xxd | head`,
	"daemon": `  # Serve prison run on the default socket, logging every jail
  prison daemon --verbose

  # On another socket; prison run finds it through PRISON_SOCKET
  prison daemon --socket /run/prison-ci.sock --pool 8 &
  PRISON_SOCKET=/run/prison-ci.sock prison run --ip 10.0.0.5 /bin/true

  # As a service (contrib/prison-daemon.service, which make install installs)
  systemctl enable --now prison-daemon`,
}
