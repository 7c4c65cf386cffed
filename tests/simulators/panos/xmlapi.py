"""The XML API's envelope: parsing what clients send (never trusted) and the answers PAN-OS gives."""
import re
import time

from flask import Response
from lxml import etree


class ApiError(Exception):
    """An XML API error answer: ``<response status="error" code="N"><msg><line>...`` (or under <result>)."""

    def __init__(self, code, lines, http_status=200, in_result=False):
        super(ApiError, self).__init__(lines if isinstance(lines, str) else "; ".join(lines))
        self.code = code
        self.lines = [lines] if isinstance(lines, str) else list(lines)
        self.http_status = http_status
        self.in_result = in_result


def missing(parameter):
    """HTTP 400, as PAN-OS answers a request without *parameter*."""
    return ApiError(400, 'Missing parameter "%s"' % parameter, http_status=400, in_result=True)


def illegal(parameter, value):
    return ApiError(400, 'Illegal value for parameter "%s" [%s].' % (parameter, value), http_status=400,
                    in_result=True)


def safe_parser():
    # No entities, no DTDs, no network: input from clients is never trusted (and must never crash us).
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_blank_text=True)


def parse_xml(text, what="cmd"):
    """One XML element from a request parameter, or ApiError 18 (malformed)."""
    if text is None or not str(text).strip():
        raise missing(what)
    try:
        return etree.fromstring(str(text).strip().encode("utf-8"), safe_parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise ApiError(18, "Malformed Request: %s" % e)


def parse_fragment(text):
    """The children of an ``element=`` parameter (set may carry several sibling elements)."""
    if text is None or not str(text).strip():
        raise missing("element")
    wrapper = parse_xml("<fragment>%s</fragment>" % str(text).strip(), "element")
    children = [c for c in wrapper if isinstance(c.tag, str)]
    if not children:
        raise ApiError(18, "Malformed Request: element holds no XML element")
    return children


_NOT_XML_RE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text):
    """Text that XML can carry: messages echo client input, which may hold control characters."""
    return _NOT_XML_RE.sub("?", text)


def uint(text):
    """int of a plain ASCII decimal (str.isdigit() also accepts '²', which int() refuses), else None."""
    text = (text or "").strip()
    return int(text) if re.match(r"^[0-9]{1,12}$", text) else None


def panos_time(epoch):
    return time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(epoch))


def xml_response(root, status=200):
    body = etree.tostring(root, encoding="utf-8")
    return Response(body, status, content_type="application/xml; charset=UTF-8")


def error_body(exc):
    root = etree.Element("response", status="error")
    if exc.code is not None:
        root.set("code", str(exc.code))
    if exc.in_result:
        etree.SubElement(etree.SubElement(root, "result"), "msg").text = clean(exc.lines[0] if exc.lines else "")
    else:
        msg = etree.SubElement(root, "msg")
        for line in exc.lines:
            etree.SubElement(msg, "line").text = clean(line)
    return root


def success(code=None, result=None, msg=None):
    root = etree.Element("response", status="success")
    if code is not None:
        root.set("code", str(code))
    if result is not None:
        root.append(result)
    if msg is not None:
        etree.SubElement(root, "msg").text = msg
    return root


def result_text(text):
    result = etree.Element("result")
    result.text = text
    return success(result=result)


def result_children(pairs):
    """<result> holding one element per (tag, text) pair."""
    result = etree.Element("result")
    for tag, text in pairs:
        etree.SubElement(result, tag).text = text
    return success(result=result)


def job_enqueued(kind, job_id):
    """What a commit or validate answers: code 19 'Commit job enqueued with jobid N' and <job>N</job>."""
    result = etree.Element("result")
    etree.SubElement(etree.SubElement(result, "msg"), "line").text = "%s job enqueued with jobid %d" % (kind, job_id)
    etree.SubElement(result, "job").text = str(job_id)
    return success(code=19, result=result)


def command_succeeded():
    return success(code=20, msg="command succeeded")
