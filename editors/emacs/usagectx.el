;;; usagectx.el --- Usage context in the mode line, from the usagectx sidecar  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (jsonrpc "1.0.14"))
;; Keywords: tools, convenience

;;; Commentary:

;; `usagectx-mode' starts the usagectx sidecar (the program and arguments in `usagectx-command'), subscribes to its
;; usage changes and shows them in the mode line: "tokens 1550/100k · requests 85/100!" (! at 80 %, !! at 100 %).
;; `usagectx-show' lists every metric with a bar; threshold crossings are shown with `message'.  Turning the mode off,
;; or leaving Emacs, shuts the sidecar down cleanly (shutdown, then exit).  The sidecar does the work; this file only
;; speaks its JSON-RPC protocol through jsonrpc.el.
;;
;;   (load "/path/to/usagectx/editors/emacs/usagectx.el") (usagectx-mode 1)

;;; Code:

(require 'jsonrpc)
(require 'cl-lib)
(require 'subr-x)

(defgroup usagectx nil
  "Usage context (documents, storage, requests, LLM tokens) from the usagectx sidecar."
  :group 'tools)

(defcustom usagectx-command '("usagectx")
  "The usagectx program and its arguments, e.g. (\"usagectx\" \"--tier\" \"pro\")."
  :type '(repeat string))

(defcustom usagectx-mode-line-metrics nil
  "Metrics shown in the mode line, in order.
nil shows every metric that has a limit."
  :type '(repeat string))

(defvar usagectx-threshold-functions nil
  "Functions called with the params of each `usage/threshold' notification.
Each gets one argument, a plist (:metric :level :ratio :used :limit).")

(defvar usagectx--connection nil "The jsonrpc connection to the sidecar, while it runs.")
(defvar usagectx--metrics (make-hash-table :test #'equal) "Metric states (plists) by name, as last told.")
(defvar usagectx--tier nil "The plan tier, as last told.")
(defvar usagectx--ready nil "Non-nil once the first snapshot arrived.")

(defconst usagectx--mode-line-segment '(:eval (usagectx--mode-line-segment))
  "What `usagectx-mode' adds to `global-mode-string'.")

(defun usagectx--apply-metrics (metrics)
  "Keep METRICS, a plist of metric name keywords and states."
  (cl-loop for (key value) on metrics by #'cddr
           do (puthash (substring (symbol-name key) 1) value usagectx--metrics)))

(defun usagectx--apply-snapshot (snapshot)
  "Keep SNAPSHOT, a plist with :tier and :metrics."
  (when snapshot
    (setq usagectx--tier (or (plist-get snapshot :tier) usagectx--tier))
    (usagectx--apply-metrics (plist-get snapshot :metrics))))

(defun usagectx--names ()
  "The metric names known, sorted."
  (sort (hash-table-keys usagectx--metrics) #'string<))

(defun usagectx--mark (level)
  "The mark shown after a metric at LEVEL."
  (pcase level ("warning" "!") ("exceeded" "!!") (_ "")))

(defun usagectx--trimmed (format value)
  "VALUE in FORMAT, without a trailing \".0\"."
  (replace-regexp-in-string "\\.0\\([[:alpha:]]*\\)\\'" "\\1" (format format value)))

(defun usagectx-compact (value &optional unit)
  "A short form of VALUE: 1550, 12.5k, 100k, 5M.
With UNIT \"bytes\": B, KiB, MiB, GiB."
  (if (equal unit "bytes")
      (cond ((< value 1024) (format "%dB" value))
            ((< value (expt 1024 2)) (usagectx--trimmed "%.1fKiB" (/ value 1024.0)))
            ((< value (expt 1024 3)) (usagectx--trimmed "%.1fMiB" (/ value (expt 1024.0 2))))
            (t (usagectx--trimmed "%.1fGiB" (/ value (expt 1024.0 3)))))
    (cond ((< value 10000) (format "%d" value))
          ((< value 1000000) (usagectx--trimmed "%.1fk" (/ value 1e3)))
          ((< value 1000000000) (usagectx--trimmed "%.1fM" (/ value 1e6)))
          (t (usagectx--trimmed "%.1fG" (/ value 1e9))))))

(defun usagectx-mode-line ()
  "The mode-line text: \"tokens 1550/100k · requests 85/100!\"."
  (let ((names (or usagectx-mode-line-metrics
                   (cl-remove-if-not (lambda (name) (plist-get (gethash name usagectx--metrics) :limit))
                                     (usagectx--names)))))
    (mapconcat
     #'identity
     (delq nil
           (mapcar (lambda (name)
                     (when-let ((metric (gethash name usagectx--metrics)))
                       (let ((limit (plist-get metric :limit)) (unit (plist-get metric :unit)))
                         (format "%s %s/%s%s" name (usagectx-compact (plist-get metric :used) unit)
                                 (if limit (usagectx-compact limit unit) "∞")
                                 (usagectx--mark (plist-get metric :level))))))
                   names))
     " · ")))

(defun usagectx--mode-line-segment ()
  "The segment in `global-mode-string'."
  (let ((text (usagectx-mode-line)))
    (if (string-empty-p text) "" (concat " " text " "))))

(defun usagectx--notification (_connection method params)
  "Handle the sidecar's notification METHOD with PARAMS."
  (pcase method
    ('usage/changed
     (usagectx--apply-metrics (plist-get params :metrics))
     (force-mode-line-update t))
    ('usage/threshold
     (let ((limit (plist-get params :limit)))
       (message "usagectx: %s %s (%d of %s)" (plist-get params :metric) (plist-get params :level)
                (plist-get params :used) (if limit (number-to-string limit) "unlimited")))
     (run-hook-with-args 'usagectx-threshold-functions params))))

(defun usagectx--start ()
  "Start the sidecar and subscribe to its changes."
  (unless (and usagectx--connection (jsonrpc-running-p usagectx--connection))
    (clrhash usagectx--metrics)
    (setq usagectx--ready nil)
    (let* ((process (make-process :name "usagectx" :command usagectx-command :connection-type 'pipe
                                  :coding 'utf-8-emacs-unix :noquery t
                                  :stderr (get-buffer-create "*usagectx stderr*")))
           (connection (make-instance 'jsonrpc-process-connection :name "usagectx" :process process
                                      :events-buffer-scrollback-size 0
                                      :notification-dispatcher #'usagectx--notification
                                      :request-dispatcher #'ignore
                                      :on-shutdown (lambda (_) (setq usagectx--connection nil
                                                                     usagectx--ready nil)))))
      (setq usagectx--connection connection)
      (jsonrpc-async-request
       connection :initialize (list :processId (emacs-pid) :clientInfo (list :name "emacs" :version emacs-version))
       :success-fn
       (lambda (result)
         (usagectx--apply-snapshot (plist-get result :snapshot))
         (jsonrpc-notify connection :initialized (make-hash-table))
         (jsonrpc-async-request
          connection :usage/subscribe (make-hash-table)
          :success-fn (lambda (subscribed)
                        (usagectx--apply-snapshot (plist-get subscribed :snapshot))
                        (setq usagectx--ready t)
                        (force-mode-line-update t))
          :error-fn (lambda (error) (message "usagectx: subscribe failed: %S" error))))
       :error-fn (lambda (error) (message "usagectx: initialize failed: %S" error))))))

(defun usagectx--stop ()
  "Shut the sidecar down: shutdown, then exit; wait a moment for it to end."
  (when-let ((connection usagectx--connection))
    (setq usagectx--connection nil usagectx--ready nil)
    (when (jsonrpc-running-p connection)
      (ignore-errors (jsonrpc-request connection :shutdown nil :timeout 2))
      (ignore-errors (jsonrpc-notify connection :exit nil))
      (let ((process (jsonrpc--process connection)) (deadline (+ (float-time) 2)))
        (while (and (process-live-p process) (< (float-time) deadline))
          (accept-process-output process 0.05))))
    (jsonrpc-shutdown connection)))

(defun usagectx--focus-changed ()
  "Tell the sidecar whether Emacs has focus.
It reads its sources again when focus comes back."
  (when (and usagectx--connection (jsonrpc-running-p usagectx--connection))
    (jsonrpc-notify usagectx--connection :client/focus
                    (list :focused (if (cl-some #'frame-focus-state (frame-list)) t :json-false)))))

(defun usagectx-process ()
  "The sidecar's process, while it runs."
  (and usagectx--connection (jsonrpc--process usagectx--connection)))

(defun usagectx-ready-p ()
  "Non-nil once the first snapshot arrived."
  usagectx--ready)

;;;###autoload
(define-minor-mode usagectx-mode
  "Show the usage context from the usagectx sidecar in the mode line."
  :global t :group 'usagectx
  (cond
   ((and usagectx-mode (not (executable-find (car usagectx-command))))
    (message "usagectx: %s not found; set `usagectx-command'" (car usagectx-command))
    (setq usagectx-mode nil))
   (usagectx-mode
    (or global-mode-string (setq global-mode-string '("")))
    (add-to-list 'global-mode-string usagectx--mode-line-segment t)
    (add-hook 'kill-emacs-hook #'usagectx--stop)
    (add-function :after after-focus-change-function #'usagectx--focus-changed)
    (usagectx--start))
   (t
    (setq global-mode-string (delete usagectx--mode-line-segment global-mode-string))
    (remove-hook 'kill-emacs-hook #'usagectx--stop)
    (remove-function after-focus-change-function #'usagectx--focus-changed)
    (usagectx--stop))))

(defun usagectx--bar (ratio width)
  "A bar WIDTH wide filled to RATIO."
  (let ((filled (round (* (min 1.0 (max 0.0 ratio)) width))))
    (concat "[" (make-string filled ?#) (make-string (- width filled) ?-) "]")))

;;;###autoload
(defun usagectx-show ()
  "Show every metric with a bar in the *usagectx* buffer."
  (interactive)
  (with-current-buffer (get-buffer-create "*usagectx*")
    (let ((inhibit-read-only t))
      (erase-buffer)
      (insert (format "usagectx — tier %s\n\n" (or usagectx--tier "?")))
      (dolist (name (usagectx--names))
        (let* ((metric (gethash name usagectx--metrics))
               (limit (plist-get metric :limit))
               (ratio (or (plist-get metric :ratio) 0)))
          (insert (format "%-10s %s %3d%%  %s/%s %s%s\n" name (usagectx--bar ratio 24) (round (* 100 ratio))
                          (usagectx-compact (plist-get metric :used) (plist-get metric :unit))
                          (if limit (usagectx-compact limit (plist-get metric :unit)) "∞")
                          (if (equal (plist-get metric :unit) "bytes") "" (or (plist-get metric :unit) ""))
                          (if (equal (plist-get metric :level) "ok") "" (concat "  " (plist-get metric :level)))))))
      (special-mode))
    (display-buffer (current-buffer))
    (current-buffer)))

(provide 'usagectx)
;;; usagectx.el ends here
