-- spec/helpers/wire.lua - what an attacker on the network can do: build
-- vigil frames (docs/PROTOCOL.md, "Frames") byte by byte, sign them when
-- it holds a key, and send them from any loopback address it can bind --
-- or catch what agents send to an address it holds.
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
  typedef struct { unsigned char opaque[384]; } wire_hash_state;
  int sodium_init(void);
  int crypto_generichash_init(wire_hash_state *st, const unsigned char *key, size_t keylen, size_t outlen);
  int crypto_generichash_update(wire_hash_state *st, const unsigned char *in, unsigned long long inlen);
  int crypto_generichash_final(wire_hash_state *st, unsigned char *out, size_t outlen);
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
local function tag(key, body)
  sodium = sodium or ffi.load("sodium")
  assert(sodium.sodium_init() >= 0)
  local st = ffi.new("wire_hash_state")
  local out = ffi.new("unsigned char[16]")
  sodium.crypto_generichash_init(st, key, #key, 16)
  local domain = "vigil-frame-v2"
  sodium.crypto_generichash_update(st, domain, #domain)
  sodium.crypto_generichash_update(st, body, #body)
  sodium.crypto_generichash_final(st, out, 16)
  return ffi.string(out, 16)
end

--- A whole datagram: [2, body, tag] (the tag when `key`, 32 raw bytes, is given).
function M.frame(f, key)
  local body = M.body(f)
  if key then return array({ uint(2), bin(body), bin(tag(key, body)) }) end
  return array({ uint(2), bin(body) })
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
