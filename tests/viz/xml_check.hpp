#pragma once
// A small XML well-formedness checker for the SVG tests: tags balanced and properly nested, one
// root element, attributes quoted and not repeated, entities valid (&amp; &lt; &gt; &quot; &apos;
// and numeric references), no '<' in text or attribute values. Comments, CDATA sections,
// processing instructions and an XML declaration are accepted. No DTDs.
#include <cctype>
#include <set>
#include <string>
#include <vector>

namespace ember::testing {

// "" when `xml` is well-formed, else what is wrong and the byte offset where.
inline std::string xml_wellformed_error(const std::string& xml) {
  std::size_t i = 0;
  std::vector<std::string> open;
  int roots = 0;
  auto fail = [&](const std::string& what) { return what + " at offset " + std::to_string(i); };
  auto name_start = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
           static_cast<unsigned char>(c) >= 0x80;
  };
  auto name_char = [&](char c) {
    return name_start(c) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  };
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  // Checks an entity or character reference starting at xml[i] == '&'; advances past it.
  auto entity = [&]() -> bool {
    const std::size_t end = xml.find(';', i);
    if (end == std::string::npos || end - i > 12) return false;
    const std::string ref = xml.substr(i + 1, end - i - 1);
    bool ok = ref == "amp" || ref == "lt" || ref == "gt" || ref == "quot" || ref == "apos";
    if (!ok && ref.size() >= 2 && ref[0] == '#') {
      const bool hex = ref[1] == 'x';
      const std::string digits = ref.substr(hex ? 2 : 1);
      ok = !digits.empty();
      for (char c : digits) {
        ok = ok && (hex ? std::isxdigit(static_cast<unsigned char>(c))
                        : std::isdigit(static_cast<unsigned char>(c)));
      }
    }
    if (ok) i = end + 1;
    return ok;
  };
  auto read_name = [&]() {
    const std::size_t start = i;
    if (i < xml.size() && name_start(xml[i])) {
      ++i;
      while (i < xml.size() && name_char(xml[i])) ++i;
    }
    return xml.substr(start, i - start);
  };
  while (i < xml.size()) {
    const char c = xml[i];
    if (c == '<') {
      if (xml.compare(i, 4, "<!--") == 0) {
        const std::size_t end = xml.find("-->", i + 4);
        if (end == std::string::npos) return fail("unterminated comment");
        i = end + 3;
      } else if (xml.compare(i, 9, "<![CDATA[") == 0) {
        if (open.empty()) return fail("CDATA outside the root element");
        const std::size_t end = xml.find("]]>", i + 9);
        if (end == std::string::npos) return fail("unterminated CDATA");
        i = end + 3;
      } else if (xml.compare(i, 2, "<?") == 0) {
        const std::size_t end = xml.find("?>", i + 2);
        if (end == std::string::npos) return fail("unterminated processing instruction");
        i = end + 2;
      } else if (xml.compare(i, 2, "<!") == 0) {
        return fail("DTD or unknown declaration");
      } else if (xml.compare(i, 2, "</") == 0) {
        i += 2;
        const std::string name = read_name();
        while (i < xml.size() && space(xml[i])) ++i;
        if (i >= xml.size() || xml[i] != '>') return fail("malformed end tag </" + name);
        if (open.empty()) return fail("end tag </" + name + "> with nothing open");
        if (open.back() != name) return fail("</" + name + "> closes <" + open.back() + ">");
        open.pop_back();
        ++i;
      } else {
        ++i;
        const std::string name = read_name();
        if (name.empty()) return fail("'<' not starting a tag");
        if (open.empty() && ++roots > 1) return fail("a second root element <" + name + ">");
        std::set<std::string> seen;
        bool self_closing = false;
        while (true) {
          const bool had_space = i < xml.size() && space(xml[i]);
          while (i < xml.size() && space(xml[i])) ++i;
          if (i >= xml.size()) return fail("unterminated tag <" + name);
          if (xml[i] == '>') {
            ++i;
            break;
          }
          if (xml.compare(i, 2, "/>") == 0) {
            i += 2;
            self_closing = true;
            break;
          }
          if (!had_space) return fail("no space before an attribute of <" + name + ">");
          const std::string attr = read_name();
          if (attr.empty()) return fail("bad attribute name in <" + name + ">");
          if (!seen.insert(attr).second) return fail("repeated attribute " + attr);
          while (i < xml.size() && space(xml[i])) ++i;
          if (i >= xml.size() || xml[i] != '=') return fail("attribute " + attr + " has no '='");
          ++i;
          while (i < xml.size() && space(xml[i])) ++i;
          if (i >= xml.size() || (xml[i] != '"' && xml[i] != '\'')) {
            return fail("attribute " + attr + " is not quoted");
          }
          const char quote = xml[i++];
          while (i < xml.size() && xml[i] != quote) {
            if (xml[i] == '<') return fail("'<' in attribute " + attr);
            if (xml[i] == '&') {
              if (!entity()) return fail("bad entity in attribute " + attr);
            } else {
              ++i;
            }
          }
          if (i >= xml.size()) return fail("unterminated value of attribute " + attr);
          ++i;
        }
        if (!self_closing) open.push_back(name);
      }
    } else if (c == '&') {
      if (open.empty()) return fail("text outside the root element");
      if (!entity()) return fail("bad entity");
    } else {
      if (open.empty() && !space(c)) return fail("text outside the root element");
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 && !space(c)) return fail("control character");
      ++i;
    }
  }
  if (!open.empty()) return fail("<" + open.back() + "> is never closed");
  if (roots != 1) return fail("no root element");
  return "";
}

}  // namespace ember::testing
