// A small MAVLink FTP browser: connect to a URL, browse the vehicle's
// directory tree, download and upload with a progress bar and a cancel button.
//
// mavftp runs each client's callbacks on its worker thread; every callback
// here only re-posts its data to the GUI thread with
// QMetaObject::invokeMethod(this, ..., Qt::QueuedConnection), where widgets
// are touched. Nothing blocks the GUI thread.
#pragma once

#include <QString>
#include <QWidget>

#include <mavftp.hpp>

class QCheckBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTreeWidget;
class QTreeWidgetItem;

class FtpWindow : public QWidget {
    Q_OBJECT

public:
    explicit FtpWindow(QWidget *parent = nullptr);
    ~FtpWindow() override;

    /** Remote path of the directory the selection is in ("/" if none). */
    QString selectedRemoteDir() const;

public slots:
    /** Open the link of the URL field and list "/". */
    void connectToVehicle();
    /** Download the selected file into the local folder field. */
    void downloadSelected();
    /** Ask for a local file and upload it. */
    void chooseUpload();
    /** Upload `localPath` into the selected directory. */
    void uploadFile(const QString &localPath);
    /** Cancel the running transfer (and anything queued behind it). */
    void cancelTransfer();

signals:
    /** A listing of `remoteDir` arrived (ok) or failed. */
    void listed(const QString &remoteDir, bool ok);
    /** A download or upload ended. */
    void transferFinished(bool ok, const QString &message);

private:
    void listInto(const QString &remoteDir);
    void showListing(const QString &remoteDir, const mavftp::Listing &listing);
    void onItemExpanded(QTreeWidgetItem *item);
    void beginTransfer(const QString &what);
    void endTransfer(std::error_code ec, const QString &what, const QString &detail);
    void showProgress(const mavftp::Progress &p);
    void updateButtons();
    QTreeWidgetItem *itemForPath(const QString &remotePath) const;

    mavftp::Link link_;
    mavftp::Client client_;
    bool transferring_ = false;

    QLineEdit *url_;
    QSpinBox *target_;
    QPushButton *connect_;
    QTreeWidget *tree_;
    QLineEdit *localDir_;
    QPushButton *browse_;
    QCheckBox *burst_;
    QPushButton *download_;
    QPushButton *upload_;
    QProgressBar *progress_;
    QPushButton *cancel_;
    QLabel *status_;
};
