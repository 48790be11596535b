# cmake -DINPUT=FILE -DOUTPUT=FILE.cc -DSYMBOL=kName -DNAMESPACE=minisup::http -P embed_file.cmake
# Writes a C++ file defining `const std::string_view SYMBOL` holding INPUT's
# bytes, as hex escapes (any byte, no raw-string delimiter to collide with).
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
# Lines of 32 bytes, so that compilers and editors stay comfortable.
string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){32})" "\\1\"\n    \"" escaped "${escaped}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by scripts/embed_file.cmake; do not edit.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\n\n"
  "extern const std::string_view ${SYMBOL};\n"
  "const std::string_view ${SYMBOL}(\n    \"${escaped}\",\n    ${size});\n\n"
  "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
