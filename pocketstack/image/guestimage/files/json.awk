# Flatten a JSON document into "path<TAB>value" lines, one per scalar: nested keys joined by
# "/", array items by index (e.g. "public_keys/mykey", "keys/0/data"). Strings are unescaped
# (\n \t \" \\ \/; \uXXXX below 0x80). Enough for OpenStack's meta_data.json.
BEGIN { RS = "\001" }
{
  s = $0; n = length(s); i = 1; depth = 0
  while (i <= n) {
    c = substr(s, i, 1)
    if (c == "{" || c == "[") {
      depth++; kind[depth] = c; idx[depth] = 0; key[depth] = ""; expect[depth] = (c == "{") ? "key" : "value"
      if (c == "[") key[depth] = "0"
      i++
    } else if (c == "}" || c == "]") {
      depth--; i++
    } else if (c == ",") {
      if (kind[depth] == "[") { idx[depth]++; key[depth] = idx[depth] } else expect[depth] = "key"
      i++
    } else if (c == ":") {
      expect[depth] = "value"; i++
    } else if (c == "\"") {
      i++; v = ""
      while (i <= n) {
        c = substr(s, i, 1)
        if (c == "\\") {
          e = substr(s, i + 1, 1)
          if (e == "n") v = v "\n"; else if (e == "t") v = v "\t"; else if (e == "r") v = v "\r"
          else if (e == "u") { h = substr(s, i + 2, 4); v = v uchar(h); i += 4 }
          else v = v e
          i += 2
        } else if (c == "\"") { i++; break } else { v = v c; i++ }
      }
      if (kind[depth] == "{" && expect[depth] == "key") key[depth] = v
      else emit(v)
    } else if (c ~ /[-0-9a-z.+E]/) {
      v = ""
      while (i <= n && substr(s, i, 1) ~ /[-0-9a-zA-Z.+]/) { v = v substr(s, i, 1); i++ }
      emit(v)
    } else i++
  }
}
function emit(v,   p, d) {
  p = ""
  for (d = 1; d <= depth; d++) p = (p == "" ? key[d] : p "/" key[d])
  gsub(/\n/, "\\n", v)
  print p "\t" v
}
function uchar(h,   x, k, d) {
  x = 0
  for (k = 1; k <= 4; k++) { d = index("0123456789abcdef", tolower(substr(h, k, 1))) - 1; x = x * 16 + d }
  return (x < 128 && x >= 32) ? sprintf("%c", x) : "?"
}
