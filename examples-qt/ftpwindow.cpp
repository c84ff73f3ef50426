#include "ftpwindow.h"

#include <QCheckBox>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMetaObject>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStyle>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace {
enum Role { PathRole = Qt::UserRole, IsDirRole, LoadedRole };

QString joinPath(const QString &dir, const QString &name) {
    return dir.endsWith('/') ? dir + name : dir + '/' + name;
}
} // namespace

FtpWindow::FtpWindow(QWidget *parent) : QWidget(parent) {
    setWindowTitle(tr("mavftp - MAVLink FTP browser (libmavftp %1)").arg(mavftp::version()));

    url_ = new QLineEdit(QStringLiteral("udpin://0.0.0.0:14550"));
    url_->setObjectName("url");
    target_ = new QSpinBox;
    target_->setObjectName("target");
    target_->setRange(0, 255);
    target_->setSpecialValueText(tr("first heard"));
    target_->setValue(1); // an autopilot's usual system id
    connect_ = new QPushButton(tr("Connect"));
    connect_->setObjectName("connect");
    auto *top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("URL")));
    top->addWidget(url_, 1);
    top->addWidget(new QLabel(tr("System")));
    top->addWidget(target_);
    top->addWidget(connect_);

    tree_ = new QTreeWidget;
    tree_->setObjectName("tree");
    tree_->setHeaderLabels({tr("Name"), tr("Size"), tr("Modified")});
    tree_->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    tree_->setColumnWidth(1, 90);
    tree_->setColumnWidth(2, 130);

    localDir_ = new QLineEdit(QDir::currentPath());
    localDir_->setObjectName("localDir");
    browse_ = new QPushButton(tr("Browse..."));
    burst_ = new QCheckBox(tr("Burst"));
    burst_->setObjectName("burst");
    burst_->setChecked(true);
    download_ = new QPushButton(tr("Download"));
    download_->setObjectName("download");
    upload_ = new QPushButton(tr("Upload..."));
    upload_->setObjectName("upload");
    auto *local = new QHBoxLayout;
    local->addWidget(new QLabel(tr("Local folder")));
    local->addWidget(localDir_, 1);
    local->addWidget(browse_);
    local->addWidget(burst_);
    local->addWidget(download_);
    local->addWidget(upload_);

    progress_ = new QProgressBar;
    progress_->setObjectName("progress");
    progress_->setRange(0, 1);
    progress_->setValue(0);
    cancel_ = new QPushButton(tr("Cancel"));
    cancel_->setObjectName("cancel");
    auto *bar = new QHBoxLayout;
    bar->addWidget(progress_, 1);
    bar->addWidget(cancel_);

    status_ = new QLabel(tr("Not connected."));
    status_->setObjectName("status");
    status_->setWordWrap(true);

    auto *layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(tree_, 1);
    layout->addLayout(local);
    layout->addLayout(bar);
    layout->addWidget(status_);
    resize(720, 480);

    QObject::connect(connect_, &QPushButton::clicked, this, &FtpWindow::connectToVehicle);
    QObject::connect(download_, &QPushButton::clicked, this, &FtpWindow::downloadSelected);
    QObject::connect(upload_, &QPushButton::clicked, this, &FtpWindow::chooseUpload);
    QObject::connect(cancel_, &QPushButton::clicked, this, &FtpWindow::cancelTransfer);
    QObject::connect(browse_, &QPushButton::clicked, this, [this] {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Local folder"), localDir_->text());
        if (!dir.isEmpty()) {
            localDir_->setText(dir);
        }
    });
    QObject::connect(tree_, &QTreeWidget::itemExpanded, this, &FtpWindow::onItemExpanded);
    QObject::connect(tree_, &QTreeWidget::currentItemChanged, this, [this] { updateButtons(); });
    updateButtons();
}

FtpWindow::~FtpWindow() {
    // Ends the client's work first: its last callbacks run now and post to
    // this still-living object; Qt drops those events with the object.
    client_.reset();
    link_.reset();
}

void FtpWindow::connectToVehicle() {
    client_.reset();
    link_.reset();
    tree_->clear();
    auto [ec, link] = mavftp::Link::open(url_->text().toStdString());
    if (ec) {
        status_->setText(tr("Cannot open %1: %2").arg(url_->text(), QString::fromStdString(ec.message())));
        updateButtons();
        return;
    }
    link_ = std::move(link);
    auto [cec, client] = mavftp::Client::create(link_, static_cast<std::uint8_t>(target_->value()));
    if (cec) {
        status_->setText(tr("No client: %1").arg(QString::fromStdString(cec.message())));
        return;
    }
    client_ = std::move(client);
    status_->setText(tr("Connected to %1; listing /...").arg(url_->text()));
    listInto(QStringLiteral("/"));
    updateButtons();
}

void FtpWindow::listInto(const QString &remoteDir) {
    client_.list_directory_async(
        remoteDir.toStdString(), [this, remoteDir](std::error_code ec, const mavftp::Listing &listing) {
            // worker thread: hand a copy to the GUI thread
            QMetaObject::invokeMethod(
                this,
                [this, remoteDir, ec, listing] {
                    if (ec) {
                        status_->setText(tr("Listing %1 failed: %2 (%3)")
                                             .arg(remoteDir, QString::fromStdString(ec.message()),
                                                  QString::fromStdString(client_.last_error())));
                        emit listed(remoteDir, false);
                        return;
                    }
                    showListing(remoteDir, listing);
                    emit listed(remoteDir, true);
                },
                Qt::QueuedConnection);
        });
}

QTreeWidgetItem *FtpWindow::itemForPath(const QString &remotePath) const {
    QTreeWidgetItem *found = nullptr;
    QList<QTreeWidgetItem *> level;
    for (int i = 0; i < tree_->topLevelItemCount(); ++i) {
        level.append(tree_->topLevelItem(i));
    }
    while (!level.isEmpty() && found == nullptr) {
        QList<QTreeWidgetItem *> next;
        for (QTreeWidgetItem *item : level) {
            if (item->data(0, PathRole).toString() == remotePath) {
                found = item;
                break;
            }
            for (int i = 0; i < item->childCount(); ++i) {
                next.append(item->child(i));
            }
        }
        level = next;
    }
    return found;
}

void FtpWindow::showListing(const QString &remoteDir, const mavftp::Listing &listing) {
    QTreeWidgetItem *parent = remoteDir == QLatin1String("/") ? nullptr : itemForPath(remoteDir);
    if (remoteDir != QLatin1String("/") && parent == nullptr) {
        return; // the tree was cleared meanwhile
    }
    if (parent != nullptr) {
        qDeleteAll(parent->takeChildren());
        parent->setData(0, LoadedRole, true);
    } else {
        tree_->clear();
    }
    const QLocale locale;
    for (const mavftp::Entry &e : listing.entries) {
        const bool isDir = e.type == mavftp::EntryType::Directory;
        auto *item = new QTreeWidgetItem;
        item->setText(0, QString::fromStdString(e.name));
        item->setIcon(0, style()->standardIcon(isDir ? QStyle::SP_DirIcon : QStyle::SP_FileIcon));
        if (!isDir) {
            item->setText(1, locale.formattedDataSize(static_cast<qint64>(e.size_bytes)));
            item->setTextAlignment(1, Qt::AlignRight | Qt::AlignVCenter);
        }
        if (e.modification_time_s != 0) {
            item->setText(2, QDateTime::fromSecsSinceEpoch(static_cast<qint64>(e.modification_time_s))
                                 .toString(QStringLiteral("yyyy-MM-dd HH:mm")));
        }
        item->setData(0, PathRole, joinPath(remoteDir, QString::fromStdString(e.name)));
        item->setData(0, IsDirRole, isDir);
        item->setData(0, LoadedRole, false);
        if (isDir) {
            item->setChildIndicatorPolicy(QTreeWidgetItem::ShowIndicator);
        }
        if (parent != nullptr) {
            parent->addChild(item);
        } else {
            tree_->addTopLevelItem(item);
        }
    }
    status_->setText(tr("%1: %2 directories, %3 files")
                         .arg(remoteDir)
                         .arg(listing.dirs.size())
                         .arg(listing.files.size()));
    updateButtons();
}

void FtpWindow::onItemExpanded(QTreeWidgetItem *item) {
    if (item->data(0, IsDirRole).toBool() && !item->data(0, LoadedRole).toBool()) {
        listInto(item->data(0, PathRole).toString());
    }
}

QString FtpWindow::selectedRemoteDir() const {
    const QTreeWidgetItem *item = tree_->currentItem();
    if (item == nullptr) {
        return QStringLiteral("/");
    }
    if (item->data(0, IsDirRole).toBool()) {
        return item->data(0, PathRole).toString();
    }
    const QString path = item->data(0, PathRole).toString();
    const QString dir = path.left(path.lastIndexOf('/'));
    return dir.isEmpty() ? QStringLiteral("/") : dir;
}

void FtpWindow::showProgress(const mavftp::Progress &p) {
    if (p.total_bytes == 0) {
        progress_->setRange(0, 0); // size not known yet: busy indicator
        return;
    }
    // QProgressBar counts in int: scale to kilobytes for files of any size.
    progress_->setRange(0, static_cast<int>(p.total_bytes / 1024 + 1));
    progress_->setValue(static_cast<int>(p.bytes_transferred / 1024 + (p.bytes_transferred == p.total_bytes)));
}

void FtpWindow::beginTransfer(const QString &what) {
    transferring_ = true;
    progress_->setRange(0, 0);
    status_->setText(what + QStringLiteral("..."));
    updateButtons();
}

void FtpWindow::endTransfer(std::error_code ec, const QString &what, const QString &detail) {
    transferring_ = false;
    QString message;
    if (!ec) {
        progress_->setRange(0, 1);
        progress_->setValue(1);
        message = tr("%1: done. %2").arg(what, detail);
    } else {
        if (progress_->maximum() == 0) {
            progress_->setRange(0, 1);
            progress_->setValue(0);
        }
        message = tr("%1: %2 (%3)").arg(what, QString::fromStdString(ec.message()),
                                         QString::fromStdString(client_.last_error()));
    }
    status_->setText(message);
    updateButtons();
    emit transferFinished(!ec, message);
}

void FtpWindow::downloadSelected() {
    const QTreeWidgetItem *item = tree_->currentItem();
    if (item == nullptr || item->data(0, IsDirRole).toBool() || transferring_) {
        return;
    }
    const QString remote = item->data(0, PathRole).toString();
    const QString localDir = localDir_->text();
    const QString what = tr("Download %1").arg(remote);
    beginTransfer(what);
    client_.download_async(
        remote.toStdString(), localDir.toStdString(), burst_->isChecked(),
        [this](const mavftp::Progress &p) {
            QMetaObject::invokeMethod(this, [this, p] { showProgress(p); }, Qt::QueuedConnection);
        },
        [this, what, remote, localDir](std::error_code ec) {
            QMetaObject::invokeMethod(
                this,
                [this, ec, what, remote, localDir] {
                    const QString file = QDir(localDir).filePath(QFileInfo(remote).fileName());
                    endTransfer(ec, what,
                                tr("%1 bytes in %2").arg(QFileInfo(file).size()).arg(file));
                },
                Qt::QueuedConnection);
        });
}

void FtpWindow::chooseUpload() {
    const QString file = QFileDialog::getOpenFileName(this, tr("File to upload"), localDir_->text());
    if (!file.isEmpty()) {
        uploadFile(file);
    }
}

void FtpWindow::uploadFile(const QString &localPath) {
    if (transferring_ || !client_) {
        return;
    }
    const QString remoteDir = selectedRemoteDir();
    const QString what = tr("Upload %1 to %2").arg(QFileInfo(localPath).fileName(), remoteDir);
    beginTransfer(what);
    client_.upload_async(
        localPath.toStdString(), remoteDir.toStdString(),
        [this](const mavftp::Progress &p) {
            QMetaObject::invokeMethod(this, [this, p] { showProgress(p); }, Qt::QueuedConnection);
        },
        [this, what, remoteDir, localPath](std::error_code ec) {
            QMetaObject::invokeMethod(
                this,
                [this, ec, what, remoteDir, localPath] {
                    endTransfer(ec, what, tr("%1 bytes").arg(QFileInfo(localPath).size()));
                    if (!ec) {
                        listInto(remoteDir); // show the new file
                    }
                },
                Qt::QueuedConnection);
        });
}

void FtpWindow::cancelTransfer() {
    if (client_) {
        client_.cancel();
    }
}

void FtpWindow::updateButtons() {
    const QTreeWidgetItem *item = tree_->currentItem();
    const bool connected = static_cast<bool>(client_);
    download_->setEnabled(connected && !transferring_ && item != nullptr &&
                          !item->data(0, IsDirRole).toBool());
    upload_->setEnabled(connected && !transferring_);
    cancel_->setEnabled(connected && transferring_);
}
