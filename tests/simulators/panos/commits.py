"""Commits and jobs: type=commit and `validate full` enqueue a job that snapshots the candidate, stays ACT for
commit_seconds, then validates the snapshot and (for a commit) makes it the running configuration."""
import copy
import time

from lxml import etree

from tests.simulators.panos.validation import validate_config
from tests.simulators.panos.xmlapi import ApiError, illegal, job_enqueued, panos_time, parse_xml, success, uint


class Commits(object):
    """Mixin of PanosSimulator: ``self._jobs`` (id -> job) and the commit counters; `show jobs` and `validate`."""

    def _refuse_if_busy(self):
        if any(job["status"] == "ACT" for job in self._jobs.values()):
            raise ApiError(13, "Another commit/validate is in progress. Please try again later")

    def _finish_due_jobs(self, now):
        for job in self._jobs.values():
            if job["status"] == "ACT" and now >= job["ends"]:
                self._finish_job(job)

    def _pending(self):
        return etree.tostring(self._candidate) != etree.tostring(self._running)

    def _commit(self, params):
        action = params.get("action")
        if action not in (None, "", "partial"):
            raise illegal("action", action)
        cmd = parse_xml(params.get("cmd") or "<commit/>", "cmd")
        if cmd.tag != "commit":
            raise ApiError(17, "%s is unexpected" % cmd.tag)
        for child in cmd:
            if child.tag not in ("description", "partial", "force"):
                raise ApiError(17, "commit -> %s is unexpected" % child.tag)
        self._refuse_if_busy()
        force = cmd.find("force") is not None
        admins = [(m.text or "").strip() for m in cmd.findall("partial/admin/member")]
        mine = not admins or self.username in admins
        if not force and (not self._pending() or not mine):
            return success(code=19, msg="There are no changes to commit.")
        job = self._new_job("Commit", description=cmd.findtext("description"))
        self._commits += 1
        return job_enqueued("Commit", job["id"])

    def _new_job(self, kind, description=None):
        now = self._now()
        job = {"id": self._next_job, "type": kind, "user": self.username, "status": "ACT", "result": "PEND",
               "tenq": now, "ends": now + self.commit_seconds, "tfin": None, "description": description or "",
               "details": [], "warnings": [], "snapshot": copy.deepcopy(self._candidate)}
        self._next_job += 1
        self._jobs[job["id"]] = job
        if now >= job["ends"]:
            self._finish_job(job)
        return job

    def _finish_job(self, job):
        errors = validate_config(job["snapshot"])
        job["status"] = "FIN"
        job["tfin"] = job["ends"]
        if errors:
            job["result"] = "FAIL"
            job["details"] = ["Validation Error:"] + errors
            if job["type"] == "Commit":
                job["details"].append("Commit failed")
                self._commits_failed += 1
        else:
            job["result"] = "OK"
            if job["type"] == "Commit":
                self._running = job["snapshot"]
                job["details"] = ["Configuration committed successfully"]
            else:
                job["details"] = ["Configuration is valid"]
        job["snapshot"] = None

    def _job_element(self, job):
        now = self._now()
        entry = etree.Element("job")
        active = job["status"] == "ACT"
        progress = 100 if not active else int(min(99, 100 * (now - job["tenq"]) / max(self.commit_seconds, 1e-6)))
        values = (
            ("tenq", panos_time(job["tenq"])), ("tdeq", time.strftime("%H:%M:%S", time.localtime(job["tenq"]))),
            ("id", str(job["id"])), ("user", job["user"]), ("type", job["type"]), ("status", job["status"]),
            ("queued", "NO"), ("stoppable", "yes" if active else "no"), ("result", job["result"]),
            ("tfin", "Still Active" if active else panos_time(job["tfin"])), ("description", job["description"]),
            ("positionInQ", "0"), ("progress", str(progress)),
        )
        for tag, text in values:
            etree.SubElement(entry, tag).text = text
        details = etree.SubElement(entry, "details")
        for line in job["details"]:
            etree.SubElement(details, "line").text = line
        warnings = etree.SubElement(entry, "warnings")
        for line in job["warnings"]:
            etree.SubElement(warnings, "line").text = line
        return entry

    def _op_jobs(self, node):
        what = [c for c in node if isinstance(c.tag, str)]
        result = etree.Element("result")
        if what and what[0].tag == "id":
            text = (what[0].text or "").strip().strip('"')
            if uint(text) is None:
                raise ApiError(17, "show -> jobs -> id '%s' is invalid" % text)
            job = self._jobs.get(uint(text))
            if job is None:
                raise ApiError(None, "job %s not found" % text)
            result.append(self._job_element(job))
        elif what and what[0].tag in ("all", "processed", "pending"):
            for job in reversed(list(self._jobs.values())):
                if what[0].tag == "processed" and job["status"] != "FIN":
                    continue
                if what[0].tag == "pending" and job["status"] == "FIN":
                    continue
                result.append(self._job_element(job))
        else:
            raise ApiError(17, "show -> jobs is incomplete: give id, all, processed or pending")
        return success(result=result)

    def _op_validate(self, _node):
        """`validate full`: a Validate job, which checks the candidate as a commit would and changes nothing."""
        self._refuse_if_busy()
        return job_enqueued("Validate", self._new_job("Validate")["id"])
