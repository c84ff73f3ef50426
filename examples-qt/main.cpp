// mavftp-qt [URL]: a MAVLink FTP browser (see ftpwindow.h).
// Try it without a drone: serve a folder with the C example
//   examples-c/mavftp --url udpin://127.0.0.1:14550 serve /some/folder
// and connect to udpout://127.0.0.1:14550.
#include <QApplication>
#include <QLineEdit>

#include "ftpwindow.h"

int main(int argc, char **argv) {
    QApplication app(argc, argv);
    FtpWindow window;
    const QStringList args = QApplication::arguments();
    if (args.size() > 1) {
        window.findChild<QLineEdit *>("url")->setText(args.at(1));
    }
    window.show();
    return QApplication::exec();
}
