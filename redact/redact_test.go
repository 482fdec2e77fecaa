package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var testEnv = []string{
	"HOME=/root", "PATH=/usr/bin",
	"HF_TOKEN=hf_abcdefghijklmnop", "github_token=ghp_123456", "OPENAI_API_KEY=sk-live-xyz",
	"MY_SECRET_THING=s3cr3t!!", "DB_PASSWORD=hunter22", "AWS_REGION=us-east-1",
	"SHORT_TOKEN=abc", "KEYRING=not-a-secret-name", "EMPTY_KEY=",
	"AWS_SDK_LOAD_CONFIG=true", "AWS_DEFAULT_OUTPUT=json",
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"HF_TOKEN": true, "HUGGING_FACE_HUB_TOKEN": true, "GHTOKEN": true, "github_token": true,
		"WANDB_API_KEY": true, "APIKEY": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
		"AWS_ACCESS_KEY_ID": true, "MY_SECRET_THING": true, "DB_PASSWORD": true, "PGPASSWORD": true,
		"MYSQL_PWD_PASSWD": true, "GPG_PASSPHRASE": true, "AZURE_CREDENTIALS": true, "API_KEYS": true,
		"my.secret":  true,
		"AWS_REGION": false, "AWS_SDK_LOAD_CONFIG": false, "AWS_DEFAULT_OUTPUT": false, "AWS_PROFILE": false,
		"TOKENIZERS_PARALLELISM": false, "MAX_TOKENS": false, "KEYRING": false, "HOME": false,
		"HF_TOKEN_PATH": false, "AWS_SHARED_CREDENTIALS_FILE": false, "SSL_KEY_DIR": false, "": false,
	} {
		require.Equal(t, want, IsSecretName(name), name)
	}
}

func TestMarker(t *testing.T) {
	require.Equal(t, "[REDACTED:HF_TOKEN]", Marker("HF_TOKEN"))
	require.Equal(t, "[REDACTED:A__B_C]", Marker(`A"\B<C`), "never a character JSON, XML or a shell must escape")
}

func TestRedactor_String(t *testing.T) {
	type testCase struct {
		name, env, in, want string
	}
	run := func(t *testing.T, tc testCase) {
		r := New(strings.Split(tc.env, " "))
		require.Equal(t, tc.want, r.String(tc.in))
		require.Equal(t, tc.want, string(r.Bytes([]byte(tc.in))))
	}
	for _, tc := range []testCase{
		{"token in a URL: the URL's user information goes whole", "HF_TOKEN=hf_abcdef", "https://x:hf_abcdef@hub/", "https://[REDACTED:url-userinfo]@hub/"},
		{"every occurrence", "A_KEY=abcdefgh", "abcdefghabcdefgh-abcdefgh", "[REDACTED:A_KEY][REDACTED:A_KEY]-[REDACTED:A_KEY]"},
		{"names in any case", "my_secret=value123 Aws_Secret_Key=prod-admin", "value123 prod-admin", "[REDACTED:my_secret] [REDACTED:Aws_Secret_Key]"},
		{"short values are left alone", "X_TOKEN=abcdefg", "abcdefg abcdefg", "abcdefg abcdefg"},
		{"harmless AWS settings are no secrets", "AWS_SDK_LOAD_CONFIG=true AWS_DEFAULT_OUTPUT=json AWS_REGION=us-east-1",
			`{"ok": true, "file": "env.json", "region": "us-east-1"}`, `{"ok": true, "file": "env.json", "region": "us-east-1"}`},
		{"not a secret name", "TOKENS=abcdefgh KEYRING=abcdefgh", "abcdefgh", "abcdefgh"},
		{"the longer of two secrets starting at one place", "A_KEY=abcdefgh B_KEY=abcdefghij", "abcdefghijk abcdefgh", "[REDACTED:B_KEY]k [REDACTED:A_KEY]"},
		{"two overlapping secrets: the leftmost names the bytes they share", "A_KEY=abcdefgh B_KEY=efghijkl", "abcdefghijkl", "[REDACTED:A_KEY][REDACTED:B_KEY]"},
		{"one value under two names takes the first name", "Z_KEY=same-value A_TOKEN=same-value", "same-value", "[REDACTED:A_TOKEN]"},
		{"as JSON escapes it", `DB_PASSWORD=pa"ss\word`, `{"p": "pa\"ss\\word"}`, `{"p": "[REDACTED:DB_PASSWORD]"}`},
		{"as Go's %q escapes it", "DB_PASSWORD=tab\there!", `"tab\there!"`, `"[REDACTED:DB_PASSWORD]"`},
		{"as Python's json escapes it", "DB_PASSWORD=pässwörd1", `"p\u00e4ssw\u00f6rd1"`, `"[REDACTED:DB_PASSWORD]"`},
		{"no secrets", "HOME=/root", "/root", "/root"},
		{"a Hugging Face token", "HOME=/root", "login hf_AbCdEfGhIjKlMnOpQrStUvWxYz012345 ok", "login [REDACTED:hf-token] ok"},
		{"too short for a Hugging Face token", "HOME=/root", "hf_hub_download hf_abc", "hf_hub_download hf_abc"},
		{"an AWS access key id", "HOME=/root", "id=AKIAIOSFODNN7EXAMPLE.", "id=[REDACTED:aws-access-key-id]."},
		{"GitHub tokens", "HOME=/root", "ghp_0123456789abcdefghijklmnopqrstuvwxyz and github_pat_11ABCDEFG0_abcdefghijklmnop",
			"[REDACTED:github-token] and [REDACTED:github-token]"},
		{"a bearer token keeps its word", "HOME=/root", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_=", "Authorization: Bearer [REDACTED:bearer-token]"},
		{"prose about bearer tokens", "HOME=/root", "Bearer authentication failed", "Bearer authentication failed"},
		{"a private key", "HOME=/root", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA==\n-----END RSA PRIVATE KEY-----\nafter",
			"key:\n[REDACTED:private-key]\nafter"},
		{"a public key is no secret", "HOME=/root", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"},
		{"a private key with no end, to the end", "HOME=/root", "a -----BEGIN PRIVATE KEY-----\nMIIEow", "a [REDACTED:private-key]"},
		{"a secret inside a longer token shape is named by its variable", "HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrSt", "hf_AbCdEfGhIjKlMnOpQrStUv", "[REDACTED:HF_TOKEN][REDACTED:hf-token]"},
		{"a token shape that overlaps a secret cannot split it", "MY_KEY=ab!cdefghij", "Bearer xxxxxxxxxxxxxxxxab!cdefghij", "Bearer [REDACTED:bearer-token][REDACTED:MY_KEY]"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

// A private key's block is bounded: with no END line within MaxPEMBytes, that many bytes are
// replaced and what follows is left.
// The forms a secret takes in real logs (issue 21): each is replaced, and what is only like one
// is not.
func TestRedactor_Forms(t *testing.T) {
	const pw = "Tr0ub4dor&3:horse/battery+staple"
	const tok = "hf_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6"
	env := []string{"DB_PASSWORD=" + pw, "HF_TOKEN=" + tok, "PIP_EXTRA_INDEX_URL=https://bob:pipP4ssw0rd123@pypi.internal/simple"}
	r := New(env)
	b64 := base64.StdEncoding.EncodeToString
	u := func(s string) string { // every character \u-escaped
		var b strings.Builder
		for _, c := range s {
			fmt.Fprintf(&b, `\u%04x`, c)
		}
		return b.String()
	}
	type testCase struct{ name, in, want string }
	run := func(t *testing.T, tc testCase) {
		require.Equal(t, tc.want, r.String(tc.in))
		var out bytes.Buffer // byte by byte through the writer too
		w := r.Writer(&out)
		for i := range len(tc.in) {
			_, err := w.Write([]byte{tc.in[i]})
			require.NoError(t, err)
		}
		require.NoError(t, w.Close())
		require.Equal(t, tc.want, out.String(), "through the writer, byte by byte")
	}
	for _, tc := range []testCase{
		{"URL-encoded", "p=" + url.QueryEscape(pw) + "&x=1", "p=[REDACTED:DB_PASSWORD]&x=1"},
		{"URL-encoded, lower-case hex", "p=Tr0ub4dor%263%3ahorse%2fbattery%2bstaple", "p=[REDACTED:DB_PASSWORD]"},
		{"URL path-escaped", "/" + url.PathEscape(pw) + "/", "/[REDACTED:DB_PASSWORD]/"},
		{"base64", "v=" + b64([]byte(pw)) + ";", "v=[REDACTED:DB_PASSWORD];"},
		{"base64url", base64.URLEncoding.EncodeToString([]byte(tok)), "[REDACTED:HF_TOKEN]"},
		{"HTTP Basic: base64 of user:value", "Authorization: Basic " + b64([]byte("alice:"+pw)), "Authorization: Basic [REDACTED:basic-auth]"},
		{"HTTP Basic of unknown credentials", "Authorization: Basic " + b64([]byte("carol:x")), "Authorization: Basic [REDACTED:basic-auth]"},
		{"prose about Basic", "Basic configuration and Basic usage", "Basic configuration and Basic usage"},
		{"base64 of a value after one more byte", b64([]byte("x" + tok)), "[REDACTED:HF_TOKEN]"},
		{"base64 of a value after two more bytes", b64([]byte("xy" + tok + "z")), "[REDACTED:HF_TOKEN]"},
		{"JSON, every character \\u-escaped", `{"t": "` + u(tok) + `"}`, `{"t": "[REDACTED:HF_TOKEN]"}`},
		{"JSON, one character \\u-escaped", `{"t": "\u0068f_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6"}`, `{"t": "[REDACTED:HF_TOKEN]"}`},
		{"JSON with escaped slashes", `"Tr0ub4dor&3:horse\/battery+staple"`, `"[REDACTED:DB_PASSWORD]"`},
		{"XML", "<m>Tr0ub4dor&amp;3:horse/battery+staple</m>", "<m>[REDACTED:DB_PASSWORD]</m>"},
		{"cut short before ...", "token " + tok[:20] + "... ok", "token [REDACTED:HF_TOKEN]... ok"},
		{"cut short before …", "token " + tok[:12] + "…", "token [REDACTED:HF_TOKEN]…"},
		{"cut short before a space and ...", "token " + tok[:14] + " ...", "token [REDACTED:HF_TOKEN] ..."},
		{"too short a start is left", "token " + tok[:11] + "...", "token " + tok[:11] + "..."},
		{"a start with no cut marker is left", "token " + tok[:20] + " ok", "token " + tok[:20] + " ok"},
		{"split over two lines", "a " + tok[:15] + "\n" + tok[15:] + " b", "a [REDACTED:HF_TOKEN]\n[REDACTED:HF_TOKEN] b"},
		{"split over two lines, CRLF and indented", tok[:13] + "\r\n    " + tok[13:], "[REDACTED:HF_TOKEN]\r\n    [REDACTED:HF_TOKEN]"},
		{"split with a short start: the start stays", "a " + tok[:5] + "\n" + tok[5:], "a " + tok[:5] + "\n[REDACTED:HF_TOKEN]"},
		{"a URL's user information", "db postgres://admin:s3cr3t@db:5432/x", "db postgres://[REDACTED:url-userinfo]@db:5432/x"},
		{"a URL's token as its user", "git clone https://" + tok + "@github.com/o/r", "git clone https://[REDACTED:url-userinfo]@github.com/o/r"},
		{"a URL credential from the environment, anywhere", "password pipP4ssw0rd123 and " + b64([]byte("bob:pipP4ssw0rd123")),
			"password [REDACTED:PIP_EXTRA_INDEX_URL] and [REDACTED:PIP_EXTRA_INDEX_URL]"},
		{"an e-mail, a URL with no credentials, ordinary base64", "me@example.com http://localhost:8080/a@b " + b64([]byte("hello, world")),
			"me@example.com http://localhost:8080/a@b " + b64([]byte("hello, world"))},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestClip(t *testing.T) {
	require.Equal(t, "short", Clip("short", 5))
	require.Equal(t, "abc…", Clip("abcdef", 3))
	require.Equal(t, "h…", Clip("hé", 2), "on a rune boundary")
	require.Equal(t, `"u=[REDACTED:HF_TOKEN]…`, Clip(`"u=[REDACTED:HF_TOKEN]", more`, 8), "never inside a marker")
	require.Equal(t, `"u=[REDACTED:HF_TOKEN]`, Clip(`"u=[REDACTED:HF_TOKEN]`, 8), "a marker that ends the text")
	require.Equal(t, "[REDACTED:A] [R…", Clip("[REDACTED:A] [RE", 15), "a marker before the cut stays")
}

func TestRedactor_PEMBound(t *testing.T) {
	r := New(nil)
	body := strings.Repeat("A", MaxPEMBytes)
	got := r.String("-----BEGIN PRIVATE KEY-----\n" + body + "tail")
	require.Equal(t, Marker(ShapePrivateKey)+body[MaxPEMBytes-len("-----BEGIN PRIVATE KEY-----\n"):]+"tail", got)
}

func TestRedactor_Environ(t *testing.T) {
	r := New(testEnv)
	got := r.Environ([]string{"SHORT_TOKEN=abc", "HF_HOME=/cache/hf_abcdefghijklmnop", "PATH=/usr/bin", "weird", "AWS_SDK_LOAD_CONFIG=true"})
	require.Equal(t, []string{"SHORT_TOKEN=[REDACTED:SHORT_TOKEN]", "HF_HOME=/cache/[REDACTED:HF_TOKEN]", "PATH=/usr/bin", "weird", "AWS_SDK_LOAD_CONFIG=true"}, got)
}

// splitText has every kind of match: secrets, escaped ones, shapes and a key.
const splitText = "login hf_abcdefghijklmnop then sk-live-xyz and hunter22 in us-east-1, hf_abcdefg (not the whole token) " +
	`"hunter22" s3cr3t!! Bearer abcdefghijklmnopqrstuvwxyz. AKIAIOSFODNN7EXAMPLE ` +
	"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY----- done hf_ZZZZZZZZZZZZZZZZZZZZZZZZ"

func TestRedactor_Writer_SplitSecrets(t *testing.T) {
	r := New(testEnv)
	want := r.String(splitText)
	for _, s := range []string{"hf_abcdefghijklmnop", "hunter22", "abcdefghijklmnopqrstuvwxyz", "AKIAIOSFODNN7", "MHcCAQEEI", "hf_ZZZZ"} {
		require.NotContains(t, want, s)
	}
	// Every way of cutting the text into two writes, and byte by byte.
	for cut := 0; cut <= len(splitText); cut++ {
		var out bytes.Buffer
		w := r.Writer(&out)
		for _, part := range []string{splitText[:cut], splitText[cut:]} {
			n, err := w.Write([]byte(part))
			require.NoError(t, err)
			require.Equal(t, len(part), n)
		}
		require.NoError(t, w.Close())
		require.Equal(t, want, out.String(), "cut at %d", cut)
	}
	var out bytes.Buffer
	w := r.Writer(&out)
	for i := range len(splitText) {
		_, err := w.Write([]byte{splitText[i]})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.Equal(t, want, out.String())
	_, err := w.Write([]byte("x"))
	require.Error(t, err)
}

// The writer holds back only what may begin a secret: ordinary lines reach the log at once (a
// step's progress is read from its log while it runs), a near miss is held no longer than the
// secret is long, and an open private key no more than MaxPEMBytes.
func TestRedactor_Writer_BoundedTail(t *testing.T) {
	r := New([]string{"A_KEY=abcdefgh"})
	var out bytes.Buffer
	w := r.Writer(&out).(*redactWriter)
	_, err := w.Write([]byte("[fixture] validate_config: hanging\n"))
	require.NoError(t, err)
	require.Equal(t, "[fixture] validate_config: hanging\n", out.String(), "an ordinary line is not held back")
	out.Reset()
	big := bytes.Repeat([]byte("abcdefg-"), 1<<17) // 1 MiB of near misses
	_, err = w.Write(big)
	require.NoError(t, err)
	require.Less(t, len(w.tail), 8)
	require.LessOrEqual(t, cap(w.buf), redactChunk+64)
	require.NoError(t, w.Close())
	require.Equal(t, big, out.Bytes())

	out.Reset()
	w = r.Writer(&out).(*redactWriter)
	_, err = w.Write([]byte("-----BEGIN PRIVATE KEY-----\n" + strings.Repeat("B", 2*MaxPEMBytes)))
	require.NoError(t, err)
	require.LessOrEqual(t, len(w.tail), MaxPEMBytes)
	require.NoError(t, w.Close())
	require.True(t, strings.HasPrefix(out.String(), Marker(ShapePrivateKey)+"BBB"), "bounded: %.40s", out.String())
}

func TestRedactor_Lines(t *testing.T) {
	r := New([]string{"HF_TOKEN=hf_abcdefghijklmnop"})
	lines := r.Lines()
	var got []string
	for _, l := range []string{"start hf_abcdefghijklmnop\n", "key -----BEGIN OPENSSH PRIVATE KEY-----\n", "b3BlbnNzaC1rZXktdjEAAAAA\n",
		"AAAA\n", "-----END OPENSSH PRIVATE KEY----- after\n", "plain", "one line -----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY----- ok\n"} {
		got = append(got, string(lines([]byte(l))))
	}
	require.Equal(t, []string{"start [REDACTED:HF_TOKEN]\n", "key [REDACTED:private-key]\n", "[REDACTED:private-key]\n",
		"[REDACTED:private-key]\n", "[REDACTED:private-key] after\n", "plain", "one line [REDACTED:private-key] ok\n"}, got)

	// An END line that never comes: the block ends after MaxPEMBytes.
	lines = r.Lines()
	lines([]byte("-----BEGIN PRIVATE KEY-----\n"))
	line := []byte(strings.Repeat("C", 1000) + "\n")
	for range MaxPEMBytes / len(line) {
		require.Equal(t, Marker(ShapePrivateKey)+"\n", string(lines(line)))
	}
	require.Equal(t, Marker(ShapePrivateKey)+"\n", string(lines(line)))
	require.Equal(t, "plain again", string(lines([]byte("plain again"))))
}

// JSON redacts string by string: the result is valid JSON whatever the secret holds, and every
// byte that held no secret is kept as it was.
func TestRedactor_JSON(t *testing.T) {
	r := New([]string{`DB_PASSWORD=pa"ss\word`, "PIN_SECRET=12345678", "AWS_SDK_LOAD_CONFIG=true", "X_TOKEN=a"})
	in := `{"pass": "pa\"ss\\word", "ok": true,  "n": 1.50, "pin": 912345678, "u": "\u00e9", "pa\"ss\\word-key": [null, false], "x": "a"}` + "\n"
	got, err := r.JSON([]byte(in))
	require.NoError(t, err)
	require.True(t, json.Valid(got), "%s", got)
	require.Equal(t, `{"pass": "[REDACTED:DB_PASSWORD]", "ok": true,  "n": 1.50, "pin": "9[REDACTED:PIN_SECRET]", "u": "\u00e9", "[REDACTED:DB_PASSWORD]-key": [null, false], "x": "a"}`+"\n", string(got))
	_, err = r.JSON([]byte(`{"a": `))
	require.EqualError(t, err, "not valid JSON")

	// A secret made of JSON's own syntax is redacted inside strings and never breaks the document.
	r = New([]string{`WEIRD_SECRET=", "x": "`})
	got, err = r.JSON([]byte(`{"a": "q\", \"x\": \"r", "b": "c"}`))
	require.NoError(t, err)
	require.True(t, json.Valid(got), "%s", got)
	require.Equal(t, `{"a": "q[REDACTED:WEIRD_SECRET]r", "b": "c"}`, string(got))
}

func TestRedactor_Scanner(t *testing.T) {
	r := New([]string{"HF_TOKEN=hf_abcdefghijklmnop", "WANDB_API_KEY=0123456789abcdef"})
	scan := func(data []byte) []string {
		s := r.Scanner()
		for len(data) > 0 { // in pieces, as io.Copy writes
			n := min(len(data), 32<<10)
			_, err := s.Write(data[:n])
			require.NoError(t, err)
			data = data[n:]
		}
		require.NoError(t, s.Close())
		return s.Found()
	}
	data := append(bytes.Repeat([]byte{0x80, 0x02, 'q'}, 30000), []byte("X\x13\x00\x00\x00hf_abcdefghijklmnopq\x01")...)
	require.Equal(t, []string{"HF_TOKEN"}, scan(data), "the variable's name, not the longer hf_ shape around it")
	require.Equal(t, []string{"WANDB_API_KEY", ShapeGitHubToken}, scan([]byte("ghp_ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210 0123456789abcdef")))
	require.Empty(t, scan([]byte("nothing here")))

	require.Equal(t, "the value of HF_TOKEN", Describe([]string{"HF_TOKEN"}))
	require.Equal(t, "the values of A_KEY and HF_TOKEN and a token shaped as hf-token", Describe([]string{"A_KEY", "HF_TOKEN", ShapeHFToken}))
	require.Equal(t, "tokens shaped as github-token and private-key", Describe([]string{ShapeGitHubToken, ShapePrivateKey}))
}

// FuzzRedactor checks the streaming writer against Bytes for any two secrets, text and split,
// that no secret survives where none can be rebuilt from a replacement, and that JSON stays
// valid JSON.
func FuzzRedactor(f *testing.F) {
	f.Add("hf_abcdefghij", "Bearer", []byte(splitText), uint16(7), uint16(300))
	f.Add(`pa"ss\word`, "12345678", []byte(`{"a": "pa\"ss\\word", "b": 12345678}`), uint16(3), uint16(9))
	f.Fuzz(func(t *testing.T, secretA, secretB string, text []byte, cut1, cut2 uint16) {
		r := New([]string{"A_TOKEN=" + secretA, "B_KEY=" + secretB})
		want := r.Bytes(text)
		c1 := int(cut1) % (len(text) + 1)
		c2 := c1 + int(cut2)%(len(text)-c1+1)
		var out bytes.Buffer
		w := r.Writer(&out)
		for _, part := range [][]byte{text[:c1], text[c1:c2], text[c2:]} {
			n, err := w.Write(part)
			require.NoError(t, err)
			require.Equal(t, len(part), n)
		}
		require.NoError(t, w.Close())
		require.Equal(t, string(want), out.String())
		for _, s := range []string{secretA, secretB} {
			if len(s) < MinSecretLen || strings.ContainsAny(s, "[]") ||
				strings.Contains(Marker("A_TOKEN")+Marker("B_KEY"), s) {
				continue
			}
			require.NotContains(t, string(want), s)
		}
		if json.Valid(text) {
			got, err := r.JSON(text)
			require.NoError(t, err)
			require.True(t, json.Valid(got), "%s", got)
		}
	})
}

func ExampleRedactor_String() {
	r := New([]string{"HF_TOKEN=hf_e2eExampleToken42", "AWS_SDK_LOAD_CONFIG=true"})
	fmt.Println(r.String(`cuda true; token hf_e2eExampleToken42, cut: hf_e2eExampleTo...; "https://u:pw@hub"`))
	// Output: cuda true; token [REDACTED:HF_TOKEN], cut: [REDACTED:HF_TOKEN]...; "https://[REDACTED:url-userinfo]@hub"
}
