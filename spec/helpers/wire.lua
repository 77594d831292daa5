-- spec/helpers/wire.lua - what an attacker on the network can do: build
-- vigil frames (docs/PROTOCOL.md, "Frames") byte by byte, seal them when
-- it holds a key (and open sealed ones), and send them from any loopback
-- address it can bind -- or catch what agents send to an address it holds.
--
-- The encoder is written here, apart from the C one, on purpose: a spec
-- that used frame.c to forge frames would share its mistakes.
local ffi = require("ffi")
local bit = require("bit")

local M = {}

ffi.cdef([[
  struct wire_sockaddr_in { uint16_t sin_family; uint16_t sin_port; uint32_t sin_addr; char zero[8]; };
  struct wire_timeval { long tv_sec; long tv_usec; };
  int socket(int domain, int type, int protocol);
  int bind(int fd, const void *addr, unsigned len);
  long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, unsigned alen);
  long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, unsigned *alen);
  int setsockopt(int fd, int level, int name, const void *val, unsigned len);
  int close(int fd);
  uint16_t htons(uint16_t v);
  uint32_t htonl(uint32_t v);
  int sodium_init(void);
  int crypto_generichash(unsigned char *out, size_t outlen, const unsigned char *in, unsigned long long inlen,
                         const unsigned char *key, size_t keylen);
  void randombytes_buf(void *buf, size_t size);
  int crypto_aead_xchacha20poly1305_ietf_encrypt(unsigned char *c, unsigned long long *clen, const unsigned char *m,
    unsigned long long mlen, const unsigned char *ad, unsigned long long adlen, const unsigned char *nsec,
    const unsigned char *npub, const unsigned char *k);
  int crypto_aead_xchacha20poly1305_ietf_decrypt(unsigned char *m, unsigned long long *mlen, unsigned char *nsec,
    const unsigned char *c, unsigned long long clen, const unsigned char *ad, unsigned long long adlen,
    const unsigned char *npub, const unsigned char *k);
]])

local AF_INET, SOCK_DGRAM, SOL_SOCKET, SO_REUSEADDR = 2, 2, 1, 2
local MSG_DONTWAIT = 0x40

-- ---- msgpack ----------------------------------------------------------------

local function be(n, bytes) -- n as `bytes` big-endian bytes (n < 2^53, or a uint64_t cdata)
  local out = {}
  if type(n) == "cdata" then
    for i = bytes, 1, -1 do
      out[i] = string.char(tonumber(bit.band(n, 0xff)))
      n = n / 256
    end
  else
    for i = bytes, 1, -1 do
      out[i] = string.char(n % 256)
      n = math.floor(n / 256)
    end
  end
  return table.concat(out)
end

local function uint(n)
  if type(n) == "cdata" then return "\xcf" .. be(n, 8) end
  if n < 128 then return string.char(n) end
  if n < 256 then return "\xcc" .. string.char(n) end
  if n < 65536 then return "\xcd" .. be(n, 2) end
  if n < 4294967296 then return "\xce" .. be(n, 4) end
  return "\xcf" .. be(n, 8)
end

local function str(s)
  if #s < 32 then return string.char(0xa0 + #s) .. s end
  if #s < 256 then return "\xd9" .. string.char(#s) .. s end
  return "\xda" .. be(#s, 2) .. s
end

local function bin(s)
  if #s < 256 then return "\xc4" .. string.char(#s) .. s end
  return "\xc5" .. be(#s, 2) .. s
end

local function array(items)
  assert(#items < 16)
  return string.char(0x90 + #items) .. table.concat(items)
end

local function map(pairs_)
  assert(#pairs_ / 2 < 16)
  return string.char(0x80 + #pairs_ / 2) .. table.concat(pairs_)
end

-- ---- frames ------------------------------------------------------------------

M.HEARTBEAT, M.DIGEST, M.SHUTDOWN = 1, 2, 3

--- The body of a frame: f.type, f.from, f.generation, f.version and the
--- optional f.incarnation, f.dc, f.rack, f.flags, f.sent (wall ms),
--- f.digest = { {pname, generation, incarnation}, ... },
--- f.alerts = { {subject, generation, incarnation, observer}, ... }.
--- Numbers may be uint64_t cdata (2^64-1 is 0xffffffffffffffffULL).
function M.body(f)
  local kv = { uint(1), uint(f.type or M.HEARTBEAT), uint(2), str(f.from), uint(3), uint(f.generation), uint(4),
    uint(f.version or 1) }
  local function add(k, v) kv[#kv + 1] = uint(k); kv[#kv + 1] = v end
  if f.dc then add(5, str(f.dc)) end
  if f.rack then add(6, str(f.rack)) end
  if f.digest then
    local entries = {}
    for i, e in ipairs(f.digest) do entries[i] = array({ str(e[1]), uint(e[2]), uint(e[3] or 0) }) end
    local n = #entries
    local head = n < 16 and string.char(0x90 + n) or ("\xdc" .. be(n, 2))
    add(9, head .. table.concat(entries))
  end
  if f.incarnation then add(10, uint(f.incarnation)) end
  if f.flags then add(11, uint(f.flags)) end
  if f.alerts then
    local list = {}
    for i, a in ipairs(f.alerts) do list[i] = array({ str(a[1]), uint(a[2]), uint(a[3]), str(a[4]) }) end
    add(12, array(list))
  end
  if f.sent then add(15, uint(f.sent)) end
  return map(kv)
end

local sodium
local function lib()
  sodium = sodium or ffi.load("sodium")
  assert(sodium.sodium_init() >= 0)
  return sodium
end

--- A key's fingerprint (8 hex digits: the first 4 bytes of BLAKE2b-256 of
--- its 32 raw bytes) and its hint (the first of those bytes, a number).
function M.fingerprint(key)
  local out = ffi.new("unsigned char[32]")
  lib().crypto_generichash(out, 32, key, #key, nil, 0)
  return string.format("%02x%02x%02x%02x", out[0], out[1], out[2], out[3]), out[0]
end

-- The associated data of a sealed frame: "vigil-frame", version, hint.
local function aad(hint) return "vigil-frame" .. string.char(2, hint) end

--- Seal a body with `key` (32 raw bytes): hint ‖ nonce ‖ ciphertext ‖ tag.
--- `nonce` (24 bytes) is drawn at random unless given.
function M.seal(body, key, nonce)
  local s = lib()
  if not nonce then
    local n = ffi.new("unsigned char[24]")
    s.randombytes_buf(n, 24)
    nonce = ffi.string(n, 24)
  end
  assert(#nonce == 24 and #key == 32)
  local _, hint = M.fingerprint(key)
  local out = ffi.new("unsigned char[?]", #body + 16)
  local ad = aad(hint)
  s.crypto_aead_xchacha20poly1305_ietf_encrypt(out, nil, body, #body, ad, #ad, nil, nonce, key)
  return string.char(hint) .. nonce .. ffi.string(out, #body + 16)
end

--- A whole datagram: [2, body], or [2, nil, sealed] when `key` (32 raw
--- bytes) is given; `nonce` as for seal.
function M.frame(f, key, nonce)
  local body = M.body(f)
  if key then return array({ uint(2), "\xc0", bin(M.seal(body, key, nonce)) }) end
  return array({ uint(2), bin(body) })
end

--- Open a datagram sealed as M.frame seals: its body, or nil and why
--- ("plaintext", "auth"). Reads only the shapes M.frame writes.
function M.open(datagram, key)
  local sealed
  if datagram:sub(1, 3) == "\x93\x02\xc0" then
    local t = datagram:byte(4)
    if t == 0xc4 then
      sealed = datagram:sub(6, 5 + datagram:byte(5))
    elseif t == 0xc5 then
      sealed = datagram:sub(7, 6 + datagram:byte(5) * 256 + datagram:byte(6))
    end
  end
  if not sealed then return nil, "plaintext" end
  if #sealed < 41 then return nil, "auth" end
  local ct = sealed:sub(26)
  local out = ffi.new("unsigned char[?]", #ct)
  local ad = aad(sealed:byte(1))
  local mlen = ffi.new("unsigned long long[1]")
  local nonce = sealed:sub(2, 25)
  if lib().crypto_aead_xchacha20poly1305_ietf_decrypt(out, mlen, nil, ct, #ct, ad, #ad, nonce, key) ~= 0 then
    return nil, "auth"
  end
  return ffi.string(out, tonumber(mlen[0]))
end

--- 32 raw bytes from a keyring line (base64).
function M.key(b64)
  local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local bits, out = {}, {}
  for c in b64:gsub("=", ""):gmatch(".") do
    local v = alphabet:find(c, 1, true) - 1
    for i = 5, 0, -1 do bits[#bits + 1] = math.floor(v / 2 ^ i) % 2 end
  end
  for i = 1, #bits - 7, 8 do
    local byte = 0
    for j = 0, 7 do byte = byte * 2 + bits[i + j] end
    out[#out + 1] = string.char(byte)
  end
  return table.concat(out)
end

--- Milliseconds of wall clock, as agents stamp their frames.
function M.now_ms()
  local f = io.popen("date +%s%3N")
  local ms = tonumber(f:read("*l"))
  f:close()
  return ms
end

-- ---- sockets -------------------------------------------------------------------

local function addr(pname)
  local a, b, c, d, port = pname:match("^(%d+)%.(%d+)%.(%d+)%.(%d+):(%d+)$")
  assert(a, "a loopback IPv4 pname: " .. tostring(pname))
  local sa = ffi.new("struct wire_sockaddr_in")
  sa.sin_family = AF_INET
  sa.sin_port = ffi.C.htons(tonumber(port))
  sa.sin_addr = ffi.C.htonl(((tonumber(a) * 256 + tonumber(b)) * 256 + tonumber(c)) * 256 + tonumber(d))
  return sa
end

--- A UDP socket bound to `pname` (any 127.0.0.0/8 address and port): send
--- from it, count or capture what arrives at it.
function M.socket(pname)
  local fd = ffi.C.socket(AF_INET, SOCK_DGRAM, 0)
  assert(fd >= 0, "socket")
  local one = ffi.new("int[1]", 1)
  ffi.C.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, one, ffi.sizeof(one))
  local sa = addr(pname)
  assert(ffi.C.bind(fd, sa, ffi.sizeof(sa)) == 0, "bind " .. pname)
  local s = { fd = fd, pname = pname, sent_bytes = 0, sent = 0 }
  function s:send(to, bytes)
    local ta = addr(to)
    local n = tonumber(ffi.C.sendto(self.fd, bytes, #bytes, 0, ta, ffi.sizeof(ta)))
    if n == #bytes then
      self.sent = self.sent + 1
      self.sent_bytes = self.sent_bytes + n
    end
    return n == #bytes
  end
  --- Every datagram waiting now: a list of strings (never blocks).
  function s:drain()
    local buf = ffi.new("char[65536]")
    local got = {}
    while true do
      local n = tonumber(ffi.C.recvfrom(self.fd, buf, 65536, MSG_DONTWAIT, nil, nil))
      if n < 0 then break end
      got[#got + 1] = ffi.string(buf, n)
    end
    return got
  end
  --- What arrives for `seconds` (drained twice a second): datagrams, bytes.
  function s:collect(seconds)
    local got, bytes = 0, 0
    local deadline = os.time() + seconds
    repeat
      for _, d in ipairs(self:drain()) do
        got = got + 1
        bytes = bytes + #d
      end
      os.execute("sleep 0.5")
    until os.time() >= deadline
    return got, bytes
  end
  function s:close()
    if self.fd >= 0 then ffi.C.close(self.fd) end
    self.fd = -1
  end
  return s
end

return M
