#include "opendkim.h"

#include "proc.h"
#include "servers.h"
#include "testpki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPENDKIM_BIN "/usr/sbin/opendkim"
#define MILTERTEST_BIN "/usr/bin/miltertest"
/* Debian's python3, which python3-dkim installs into: not whatever
 * python3 comes first in PATH (pyenv and the like lack dkimpy). */
#define PYTHON_BIN "/usr/bin/python3"

int opendkim_paths(const char *dir, odk_paths *p)
{
    if ((size_t)snprintf(p->conf, sizeof(p->conf),
                         "%s/opendkim/opendkim.conf", dir) >=
            sizeof(p->conf) ||
        (size_t)snprintf(p->pidfile, sizeof(p->pidfile),
                         "%s/opendkim/opendkim.pid", dir) >=
            sizeof(p->pidfile) ||
        (size_t)snprintf(p->keytable, sizeof(p->keytable),
                         "%s/opendkim/KeyTable", dir) >=
            sizeof(p->keytable) ||
        (size_t)snprintf(p->signingtable, sizeof(p->signingtable),
                         "%s/opendkim/SigningTable", dir) >=
            sizeof(p->signingtable) ||
        (size_t)snprintf(p->out, sizeof(p->out), "%s/opendkim/opendkim.out",
                         dir) >= sizeof(p->out))
        return -1;
    return 0;
}

/* Write text to path through path.tmp and rename, so a reader (OpenDKIM
 * reloading) sees the old file or the new one, never a part. */
static int write_replace(const char *path, const char *text)
{
    char tmp[1200];

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -1;
    tp_write_bytes(tmp, text, strlen(text), 0644);
    return rename(tmp, path) == 0 ? 0 : -1;
}

pid_t odk_signer_start(odk_signer *g, const char *dir, const char *name,
                       int port, const char *domain, const char *sel, int ed,
                       const char *extra, char *txt, size_t txtlen,
                       const char **skip)
{
    char key[700];

    g->pid = -1;
    g->port = port;
    if ((size_t)snprintf(g->base, sizeof(g->base), "%s/%s", dir, name) >=
            sizeof(g->base) ||
        mkdir(g->base, 0700) != 0 || opendkim_paths(g->base, &g->P) != 0)
        return -1;
    if ((size_t)snprintf(key, sizeof(key), "%s/%s.%s.private", g->base, sel,
                         domain) >= sizeof(key))
        return -1;
    if ((ed ? dkim_make_ed25519_key(key, txt, txtlen)
            : dkim_make_key(key, txt, txtlen)) != 0)
        return -1;
    g->pid = opendkim_start_with(g->base, port, domain, sel, key, extra,
                                 skip);
    return g->pid;
}

int opendkim_set_key(const char *dir, const char *domain,
                     const char *selector, const char *key_path)
{
    odk_paths p;
    char text[4096];

    if (opendkim_paths(dir, &p) != 0)
        return -1;
    /* The key is named as most setups name it, after its DNS record;
     * a path starting with "/" is read from that file. */
    if ((size_t)snprintf(text, sizeof(text),
                         "%s._domainkey.%s %s:%s:%s\n", selector, domain,
                         domain, selector, key_path) >= sizeof(text) ||
        write_replace(p.keytable, text) != 0)
        return -1;
    /* refile: patterns, "*@domain" for every sender at domain. */
    if ((size_t)snprintf(text, sizeof(text), "*@%s %s._domainkey.%s\n",
                         domain, selector, domain) >= sizeof(text) ||
        write_replace(p.signingtable, text) != 0)
        return -1;
    return 0;
}

pid_t opendkim_pid(const char *dir)
{
    odk_paths p;
    FILE *f;
    long pid = 0;

    if (opendkim_paths(dir, &p) != 0 || (f = fopen(p.pidfile, "r")) == NULL)
        return 0;
    if (fscanf(f, " %ld", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

void opendkim_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    /* libmilter lets its workers finish first: exiting takes a few
     * seconds. */
    kill(pid, SIGTERM);
    if (proc_wait(pid, 10000) < 0) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
}

pid_t opendkim_start(const char *dir, int port, const char *domain,
                     const char *selector, const char *key_path,
                     const char **skip)
{
    return opendkim_start_with(dir, port, domain, selector, key_path, NULL,
                               skip);
}

pid_t opendkim_start_with(const char *dir, int port, const char *domain,
                          const char *selector, const char *key_path,
                          const char *extra, const char **skip)
{
    odk_paths p;
    char base[1100], text[8192];
    char *argv[5];
    pid_t pid;

    if (skip != NULL)
        *skip = NULL;
    if (access(OPENDKIM_BIN, X_OK) != 0 || access(MILTERTEST_BIN, X_OK)) {
        if (skip != NULL)
            *skip = "OpenDKIM is not installed (opendkim, miltertest)";
        return 0;
    }
    if (opendkim_paths(dir, &p) != 0 ||
        (size_t)snprintf(base, sizeof(base), "%s/opendkim", dir) >=
            sizeof(base))
        return -1;
    tp_mkdirs(base);
    if (opendkim_set_key(dir, domain, selector, key_path) != 0)
        return -1;
    /* Syslog no: there is no syslog daemon to read in a test.  The
     * default InternalHosts (127.0.0.1) makes miltertest's connections
     * from 127.0.0.1 ones to sign.  RequireSafeKeys no: OpenDKIM refuses
     * a key below a directory others can write to, and the tests' keys
     * are under $TMPDIR (/tmp); it would tempfail every message at the
     * end of the header.  No UserID: the tests run as root or as the
     * user that owns dir. */
    if ((size_t)snprintf(text, sizeof(text),
                         "# A private signer for keywarden's tests.\n"
                         "Mode s\n"
                         "Socket inet:%d@127.0.0.1\n"
                         "PidFile %s\n"
                         "KeyTable %s\n"
                         "SigningTable refile:%s\n"
                         "Canonicalization relaxed/relaxed\n"
                         "Syslog no\n"
                         "RequireSafeKeys no\n%s",
                         port, p.pidfile, p.keytable, p.signingtable,
                         extra != NULL ? extra : "") >=
        sizeof(text))
        return -1;
    tp_write_bytes(p.conf, text, strlen(text), 0644);
    argv[0] = (char *)OPENDKIM_BIN;
    argv[1] = (char *)"-f";
    argv[2] = (char *)"-x";
    argv[3] = p.conf;
    argv[4] = NULL;
    pid = proc_spawn_log(argv, p.out);
    if (!proc_until(port_open, &port, 10000)) {
        opendkim_stop(pid);
        return -1;
    }
    return pid;
}

/* A growing NUL-terminated buffer; aborts on exhaustion (tests only). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (b->p == NULL)
            abort();
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* s[0..n) as a Lua string literal: every byte but letters, digits and a
 * few safe marks as a three-digit decimal escape, which nothing that
 * follows can extend. */
static void sb_lua(sbuf *b, const char *s, size_t n)
{
    static const char safe[] = " .,:;@<>=/+_-";
    size_t i;

    sb_str(b, "\"");
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || (c != '\0' && strchr(safe, c))) {
            sb_add(b, (const char *)&s[i], 1);
        } else {
            snprintf(e, sizeof(e), "\\%03u", c);
            sb_str(b, e);
        }
    }
    sb_str(b, "\"");
}

/* text with every line end (LF or CRLF) made CRLF. */
static void sb_crlf(sbuf *b, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] == '\n') {
            sb_str(b, "\r\n");
        } else if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') {
            sb_str(b, "\r\n");
            i++;
        } else {
            sb_add(b, &s[i], 1);
        }
    }
}

/* The address in a From: or To: value: what is inside <...>, or the value
 * trimmed. */
static void addr_of(const char *v, size_t n, char *out, size_t outlen)
{
    const char *lt = memchr(v, '<', n), *gt;
    size_t k;

    if (lt != NULL && (gt = memchr(lt, '>', n - (size_t)(lt - v))) != NULL) {
        v = lt + 1;
        n = (size_t)(gt - v);
    }
    while (n > 0 && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' ||
                     v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    k = n < outlen - 1 ? n : outlen - 1;
    memcpy(out, v, k);
    out[k] = '\0';
}

/* The Lua script that plays the MTA for message: each step's reply is
 * checked so that a refusal (OpenDKIM tempfails at the end of the header
 * when it cannot use the key) fails at once, not at miltertest's read
 * timeout.  The added field is printed between markers. */
static int sign_script(sbuf *lua, int port, const char *msg)
{
    const char *p = msg, *body, *end = msg + strlen(msg);
    char from[512] = "", to[512] = "", sock[64];
    sbuf hdrs = {NULL, 0, 0};
    size_t off;

    snprintf(sock, sizeof(sock), "inet:%d@127.0.0.1", port);
    /* miltertest exits 1 on a Lua error without a word: run the steps
     * under pcall and say what failed on stderr. */
    sb_str(lua, "local function run()\nlocal conn = mt.connect(");
    sb_lua(lua, sock, strlen(sock));
    sb_str(lua,
           ", 50, 0.1)\n"
           "if conn == nil then error(\"cannot connect to the milter\") end\n"
           "local function step(what, r, last)\n"
           "  if r ~= nil then error(what .. \": \" .. r) end\n"
           "  local got = mt.getreply(conn)\n"
           "  if got == SMFIR_CONTINUE or (last and got == SMFIR_ACCEPT)\n"
           "  then return end\n"
           "  if got == SMFIR_ACCEPT then\n"
           "    error(what .. \": the filter accepted the message \" ..\n"
           "          \"without signing it (no SigningTable match?)\")\n"
           "  end\n"
           "  error(what .. \": the filter replied '\" ..\n"
           "        string.char(got) .. \"'\")\n"
           "end\n"
           "step(\"connect\", mt.conninfo(conn, \"localhost\", "
           "\"127.0.0.1\"), false)\n");
    /* Header fields up to the empty line; continuation lines stay with
     * their field, joined with LF as an MTA hands them to a milter. */
    for (;;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon;
        const char *next, *v;
        size_t n;

        if (eol == NULL)
            goto bad;
        if (eol == p || (eol == p + 1 && *p == '\r')) {
            body = eol + 1;
            break;
        }
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p)
            goto bad;
        next = eol + 1;
        while (next < end && (*next == ' ' || *next == '\t')) {
            const char *e2 = memchr(next, '\n', (size_t)(end - next));
            if (e2 == NULL)
                goto bad;
            next = e2 + 1;
        }
        v = colon + 1;
        while (v < next && (*v == ' ' || *v == '\t'))
            v++;
        n = (size_t)(next - v);
        {
            /* The value without CRs and without its final line end. */
            sbuf val = {NULL, 0, 0};
            size_t i;

            for (i = 0; i < n; i++)
                if (v[i] != '\r')
                    sb_add(&val, &v[i], 1);
            while (val.len > 0 && val.p[val.len - 1] == '\n')
                val.p[--val.len] = '\0';
            if (val.p == NULL)
                sb_str(&val, "");
            if ((size_t)(colon - p) == 4 && strncasecmp(p, "From", 4) == 0)
                addr_of(val.p, val.len, from, sizeof(from));
            if ((size_t)(colon - p) == 2 && strncasecmp(p, "To", 2) == 0)
                addr_of(val.p, val.len, to, sizeof(to));
            sb_str(&hdrs, "step(\"header\", mt.header(conn, ");
            sb_lua(&hdrs, p, (size_t)(colon - p));
            sb_str(&hdrs, ", ");
            sb_lua(&hdrs, val.p, val.len);
            sb_str(&hdrs, "), false)\n");
            free(val.p);
        }
        p = next;
    }
    if (from[0] == '\0')
        goto bad;
    if (to[0] == '\0')
        snprintf(to, sizeof(to), "postmaster@example.net");
    sb_str(lua, "step(\"MAIL FROM\", mt.mailfrom(conn, ");
    sb_lua(lua, from, strlen(from));
    sb_str(lua, "), false)\nstep(\"RCPT TO\", mt.rcptto(conn, ");
    sb_lua(lua, to, strlen(to));
    sb_str(lua, "), false)\n");
    sb_add(lua, hdrs.p, hdrs.len);
    free(hdrs.p);
    hdrs.p = NULL;
    sb_str(lua, "step(\"end of header\", mt.eoh(conn), false)\n");
    /* The body as it goes over SMTP, CRLF, in chunks under libmilter's
     * 64 KiB limit. */
    {
        sbuf crlf = {NULL, 0, 0};

        sb_crlf(&crlf, body, (size_t)(end - body));
        for (off = 0; off < crlf.len; off += 32768) {
            size_t n = crlf.len - off < 32768 ? crlf.len - off : 32768;

            sb_str(lua, "step(\"body\", mt.bodystring(conn, ");
            sb_lua(lua, crlf.p + off, n);
            sb_str(lua, "), false)\n");
        }
        free(crlf.p);
    }
    sb_str(lua,
           "step(\"end of message\", mt.eom(conn), true)\n"
           "local h = mt.getheader(conn, \"DKIM-Signature\", 0)\n"
           "if h == nil then error(\"no DKIM-Signature was added\") end\n"
           "mt.echo(\"--- DKIM-Signature begin\")\n"
           "mt.echo(h)\n"
           "mt.echo(\"--- DKIM-Signature end\")\n"
           "mt.disconnect(conn)\n"
           "end\n"
           "local ok, err = pcall(run)\n"
           "if not ok then\n"
           "  io.stderr:write(tostring(err) .. \"\\n\")\n"
           "  os.exit(1)\n"
           "end\n");
    return 0;
bad:
    free(hdrs.p);
    return -1;
}

int opendkim_sign(const char *dir, int port, const char *message,
                  char **signed_out)
{
    static const char begin[] = "--- DKIM-Signature begin\n",
                      endm[] = "\n--- DKIM-Signature end\n";
    char script[1100];
    char *argv[4], *out = NULL, *err = NULL, *b, *e;
    sbuf lua = {NULL, 0, 0}, res = {NULL, 0, 0};
    int ofd, efd, rc;
    pid_t pid;

    if (signed_out != NULL)
        *signed_out = NULL;
    if ((size_t)snprintf(script, sizeof(script), "%s/opendkim/sign.lua",
                         dir) >= sizeof(script))
        return -1;
    if (sign_script(&lua, port, message) != 0) {
        free(lua.p);
        if (signed_out != NULL)
            *signed_out = strdup("the message has no header fields, "
                                 "no From: or no empty line after them");
        return -1;
    }
    tp_write_bytes(script, lua.p, lua.len, 0644);
    free(lua.p);
    argv[0] = (char *)MILTERTEST_BIN;
    argv[1] = (char *)"-s";
    argv[2] = script;
    argv[3] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    proc_drain(ofd, efd, &out, &err);
    rc = proc_wait(pid, 30000);
    if (rc < 0) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
    b = strstr(out, begin);
    e = b != NULL ? strstr(b, endm) : NULL;
    if (rc != 0 || e == NULL) {
        if (signed_out != NULL) {
            char head[64];

            snprintf(head, sizeof(head), "miltertest failed (exit %d): ",
                     rc);
            sb_str(&res, head);
            sb_str(&res, err);
            sb_str(&res, out);
            *signed_out = res.p;
        } else {
            free(res.p);
        }
        free(out);
        free(err);
        return -1;
    }
    /* The value as the filter gave it: a leading space, folded with
     * LF TAB; written with CRLF like the rest. */
    b += strlen(begin);
    sb_str(&res, "DKIM-Signature:");
    sb_crlf(&res, b, (size_t)(e - b));
    sb_str(&res, "\r\n");
    sb_crlf(&res, message, strlen(message));
    free(out);
    free(err);
    if (signed_out != NULL)
        *signed_out = res.p;
    else
        free(res.p);
    return 0;
}

int opendkim_sign_from(const char *dir, int port, const char *domain,
                       char **signed_out)
{
    char msg[600];

    snprintf(msg, sizeof(msg),
             "From: Alice <alice@%s>\nTo: Bob <bob@example.org>\n"
             "Subject: a test\n\nSigned through the milter.\n",
             domain);
    return opendkim_sign(dir, port, msg, signed_out);
}

/* Exit 0 verified, 1 not, 3 dkimpy missing; stdout says why.  The key
 * lookup is answered from argv, for the one name only. */
static const char verify_py[] =
    "import io, logging, sys\n"
    "try:\n"
    "    import dkim\n"
    "except Exception as e:\n"
    "    print('python3-dkim (dkimpy) is not available: %s' % e)\n"
    "    sys.exit(3)\n"
    "path, sel, dom, txt = sys.argv[1:5]\n"
    "idx = int(sys.argv[5]) if len(sys.argv) > 5 else 0\n"
    "want = ('%s._domainkey.%s.' % (sel, dom)).lower()\n"
    "asked = []\n"
    "def resolve(n, timeout):\n"
    "    # txt 'dns:ADDR:PORT': asked of that resolver as a receiver asks,\n"
    "    # CNAMEs followed by it; the name it ended at is noted.\n"
    "    import dns.resolver\n"
    "    _, addr, port = txt.split(':')\n"
    "    r = dns.resolver.Resolver(configure=False)\n"
    "    r.nameservers = [addr]\n"
    "    r.port = int(port)\n"
    "    try:\n"
    "        a = r.resolve(n, 'TXT', lifetime=timeout)\n"
    "    except Exception as e:\n"
    "        asked.append('%s (%s)' % (n, type(e).__name__))\n"
    "        return None\n"
    "    asked.append('%s -> %s' % (n, a.canonical_name))\n"
    "    return b''.join(a[0].strings)\n"
    "def dnsfunc(name, timeout=5):\n"
    "    n = name.decode() if isinstance(name, bytes) else name\n"
    "    if txt.startswith('dns:'):\n"
    "        return resolve(n, timeout)\n"
    "    asked.append(n)\n"
    "    if n.lower().rstrip('.') + '.' == want:\n"
    "        return txt.encode()\n"
    "    return None\n"
    "log = io.StringIO()\n"
    "logger = logging.getLogger('kwdkim')\n"
    "logger.addHandler(logging.StreamHandler(log))\n"
    "logger.setLevel(logging.DEBUG)\n"
    "with open(path, 'rb') as f:\n"
    "    msg = f.read()\n"
    "d = dkim.DKIM(msg, logger=logger)\n"
    "try:\n"
    "    ok = d.verify(idx=idx, dnsfunc=dnsfunc)\n"
    "except Exception as e:\n"
    "    ok = False\n"
    "    log.write('%s: %s\\n' % (type(e).__name__, e))\n"
    "sig = d.signature_fields if hasattr(d, 'signature_fields') else {}\n"
    "tags = ' '.join('%s=%s' % (k.decode(), sig[k].decode())\n"
    "                for k in (b'd', b's') if k in sig)\n"
    "if ok:\n"
    "    print('verified (%s; asked %s)' % (tags, ', '.join(asked)))\n"
    "    sys.exit(0)\n"
    "lines = [l for l in log.getvalue().splitlines() if l.strip()]\n"
    "print('not verified (%s; asked %s): %s' %\n"
    "      (tags, ', '.join(asked) or 'nothing',\n"
    "       lines[-1] if lines else 'no reason given'))\n"
    "sys.exit(1)\n";

int dkim_verify_dns(const char *signed_msg, const char *resolver, int port,
                    char *why, size_t whylen)
{
    char arg[128];

    snprintf(arg, sizeof(arg), "dns:%s:%d", resolver, port);
    return dkim_verify(signed_msg, "-", "-", arg, why, whylen);
}

int dkim_verify(const char *signed_msg, const char *selector,
                const char *domain, const char *pubkey_txt, char *why,
                size_t whylen)
{
    return dkim_verify_at(signed_msg, 0, selector, domain, pubkey_txt, why,
                          whylen);
}

int dkim_verify_at(const char *signed_msg, int idx, const char *selector,
                   const char *domain, const char *pubkey_txt, char *why,
                   size_t whylen)
{
    char path[64], num[16];
    char *argv[10], *out = NULL, *err = NULL;
    size_t len = strlen(signed_msg), off = 0;
    int fd, ofd, efd, rc, res;
    pid_t pid;

    if (why != NULL && whylen > 0)
        why[0] = '\0';
    if (access(PYTHON_BIN, X_OK) != 0) {
        if (why != NULL)
            snprintf(why, whylen, "%s is not installed", PYTHON_BIN);
        return -1;
    }
    /* The message goes to dkimpy as an anonymous file the child
     * inherits (no MFD_CLOEXEC): no temporary file to name or remove. */
    if ((fd = memfd_create("kw-dkim-message", 0)) < 0)
        return -1;
    while (off < len) {
        ssize_t n = write(fd, signed_msg + off, len - off);

        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    snprintf(path, sizeof(path), "/dev/fd/%d", fd);
    /* -I: no PYTHONPATH, no user site-packages, only Debian's. */
    argv[0] = (char *)PYTHON_BIN;
    argv[1] = (char *)"-I";
    argv[2] = (char *)"-c";
    argv[3] = (char *)verify_py;
    argv[4] = path;
    argv[5] = (char *)selector;
    argv[6] = (char *)domain;
    argv[7] = (char *)pubkey_txt;
    snprintf(num, sizeof(num), "%d", idx);
    argv[8] = num;
    argv[9] = NULL;
    pid = proc_spawn_pipes(argv, &ofd, &efd);
    close(fd);
    proc_drain(ofd, efd, &out, &err);
    rc = proc_wait(pid, 30000);
    if (rc < 0) {
        kill(pid, SIGKILL);
        proc_wait(pid, 5000);
    }
    res = rc == 0 ? 1 : rc == 1 ? 0 : -1;
    if (why != NULL) {
        size_t n;

        snprintf(why, whylen, "%s%s", out, res < 0 ? err : "");
        n = strlen(why);
        while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == '\r'))
            why[--n] = '\0';
    }
    free(out);
    free(err);
    return res;
}

static int txt_of_key(EVP_PKEY *k, char *txt, size_t txtlen)
{
    unsigned char *der = NULL, *b64;
    int n = i2d_PUBKEY(k, &der), m, ok;

    if (n <= 0)
        return -1;
    b64 = malloc((size_t)(4 * ((n + 2) / 3) + 1));
    if (b64 == NULL)
        abort();
    m = EVP_EncodeBlock(b64, der, n);
    ok = m > 0 && (size_t)snprintf(txt, txtlen, "v=DKIM1; k=rsa; p=%s",
                                   (char *)b64) < txtlen;
    free(b64);
    OPENSSL_free(der);
    return ok ? 0 : -1;
}

int dkim_make_key(const char *key_path, char *txt, size_t txtlen)
{
    EVP_PKEY *k = tp_key_rsa(2048);
    int rc = txt_of_key(k, txt, txtlen);

    if (rc == 0)
        tp_write_key(key_path, k, 0600);
    EVP_PKEY_free(k);
    return rc;
}

int dkim_make_ed25519_key(const char *key_path, char *txt, size_t txtlen)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    unsigned char raw[32], b64[48];
    size_t n = sizeof(raw);
    int ok;

    if (k == NULL)
        abort();
    /* RFC 8463: p= is the bare 32-byte public key, not an SPKI. */
    ok = EVP_PKEY_get_raw_public_key(k, raw, &n) == 1 && n == 32 &&
         EVP_EncodeBlock(b64, raw, 32) > 0 &&
         (size_t)snprintf(txt, txtlen, "v=DKIM1; k=ed25519; p=%s",
                          (char *)b64) < txtlen;
    if (ok)
        tp_write_key(key_path, k, 0600);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

int dkim_txt_of(const char *key_path, char *txt, size_t txtlen)
{
    FILE *f = fopen(key_path, "r");
    EVP_PKEY *k;
    int rc;

    if (f == NULL)
        return -1;
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (k == NULL || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        return -1;
    }
    rc = txt_of_key(k, txt, txtlen);
    EVP_PKEY_free(k);
    return rc;
}
