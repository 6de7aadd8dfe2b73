;;; emacs_test.el --- drives editors/emacs/usagectx.el in batch mode  -*- lexical-binding: t; -*-
;; Run: emacs --batch -Q -l editors/emacs/usagectx.el -l emacs_test.el
;; Environment: USAGECTX_BIN, USAGECTX_STATE.  Prints "key value" lines on stdout, then "done ok" or "failed REASON".

(require 'usagectx)

(defvar test-deadline 30)
(defvar test-thresholds nil)

(defun test-say (key value) (princ (format "%s %s\n" key value)))

(defun test-wait (predicate)
  "Wait up to `test-deadline' seconds for PREDICATE."
  (let ((end (+ (float-time) test-deadline)))
    (while (and (not (funcall predicate)) (< (float-time) end))
      (accept-process-output nil 0.05))
    (funcall predicate)))

(defun test-run ()
  (let ((bin (getenv "USAGECTX_BIN")) (state (getenv "USAGECTX_STATE")))
    ;; A program that is not there leaves the mode off with a message.
    (setq usagectx-command (list (concat state "/no-such-usagectx")))
    (usagectx-mode 1)
    (test-say "missing_program" (if usagectx-mode "on" "off"))
    (setq usagectx-command (list bin "--state" state "--tier" "free"))
    (setq usagectx-mode-line-metrics '("requests"))
    (add-hook 'usagectx-threshold-functions (lambda (params) (push params test-thresholds)))
    (usagectx-mode 1)
    (let ((process (usagectx-process)))
      (test-say "pid" (process-id process))
      (unless (test-wait #'usagectx-ready-p) (error "no snapshot"))
      (test-say "initial" (usagectx-mode-line))
      (test-say "compact" (mapconcat (lambda (c) (apply #'usagectx-compact c))
                                     '((104857600 "bytes") (1550) (100000) (12500) (5000000)) " "))
      ;; Another process on the same state directory.
      (unless (eq 0 (call-process bin nil nil nil "call" "usage/increment" "{\"metric\":\"requests\",\"amount\":5}"
                                  "--state" state))
        (error "usagectx call failed"))
      (unless (test-wait (lambda () (equal (usagectx-mode-line) "requests 5/100")))
        (error "mode line after another process: %s" (usagectx-mode-line)))
      (test-say "after_call" (usagectx-mode-line))
      ;; Through the mode's own connection: crosses 80 %.
      (jsonrpc-request usagectx--connection :usage/increment (list :metric "requests" :amount 80))
      (unless (test-wait (lambda () (equal (usagectx-mode-line) "requests 85/100!")))
        (error "mode line after the increment: %s" (usagectx-mode-line)))
      (test-say "after_increment" (usagectx-mode-line))
      (unless (test-wait (lambda () test-thresholds)) (error "no threshold notification"))
      (test-say "threshold" (plist-get (car test-thresholds) :level))
      ;; (format-mode-line draws nothing in batch mode: the segment is read as the mode line would read it.)
      ;; A focus change reaches the sidecar as client/focus; it goes on answering (a failed request signals).
      (usagectx--focus-changed)
      (jsonrpc-request usagectx--connection :ping (make-hash-table))
      (test-say "focus" "ok")
      (test-say "segment" (if (member usagectx--mode-line-segment global-mode-string)
                              (format "[%s]" (eval (cadr usagectx--mode-line-segment) t))
                            "missing"))
      (with-current-buffer (usagectx-show)
        (goto-char (point-min))
        (when (re-search-forward "^requests .*$" nil t) (test-say "bar" (match-string 0))))
      (usagectx-mode -1)
      (test-say "segment_after" (if (member usagectx--mode-line-segment global-mode-string) "kept" "removed"))
      (unless (test-wait (lambda () (not (process-live-p process)))) (error "the sidecar still runs"))
      (test-say "exit_status" (process-exit-status process)))))

(condition-case failure
    (progn (test-run) (test-say "done" "ok"))
  (error (test-say "failed" (error-message-string failure))))
